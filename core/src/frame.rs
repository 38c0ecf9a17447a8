//! Frame headers (RFC 6455 §5.2): decoding untrusted bytes and encoding our own.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```
//!
//! Decoding checks everything that can be checked from the header alone: known opcodes,
//! minimal length encoding, the 64-bit length's most significant bit, and the control-frame
//! rules of §5.5. Rules that depend on the connection (masking direction, fragmentation order,
//! negotiated extensions, size limits) live in [`crate::connection`].

use crate::error::ProtocolError;

/// Longest possible header: 2 bytes, 8 bytes of extended length, 4 bytes of masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// Largest payload of a control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Largest encoded control frame: a masked header with a 7-bit length plus 125 bytes.
pub const MAX_CONTROL_FRAME_LEN: usize = 2 + 4 + MAX_CONTROL_PAYLOAD;

/// Frame opcodes defined by RFC 6455 §5.2 (§11.8). The others are reserved and fail the
/// connection when received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// Continues a fragmented message (§5.4).
    Continuation,
    /// Starts a text message: UTF-8.
    Text,
    /// Starts a binary message.
    Binary,
    /// Starts or answers the closing handshake (§5.5.1).
    Close,
    /// Asks the peer for a pong (§5.5.2).
    Ping,
    /// Answers a ping, or a unidirectional heartbeat (§5.5.3).
    Pong,
}

impl OpCode {
    /// The opcode for a 4-bit wire value, or `None` for the reserved values.
    pub const fn from_u8(v: u8) -> Option<OpCode> {
        Some(match v {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    pub const fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Control frames (Close, Ping, Pong) may not be fragmented and carry at most 125 bytes.
    pub const fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }

    /// A short lower-case name, for messages.
    pub const fn name(self) -> &'static str {
        match self {
            OpCode::Continuation => "continuation",
            OpCode::Text => "text",
            OpCode::Binary => "binary",
            OpCode::Close => "close",
            OpCode::Ping => "ping",
            OpCode::Pong => "pong",
        }
    }
}

/// RSV1, the bit permessage-deflate (RFC 7692) claims.
pub const RSV1: u8 = 0b100;
/// RSV2.
pub const RSV2: u8 = 0b010;
/// RSV3.
pub const RSV3: u8 = 0b001;

/// A decoded or to-be-encoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// The three reserved bits, RSV1 as `0b100` down to RSV3 as `0b001`.
    pub rsv: u8,
    /// What the frame carries.
    pub opcode: OpCode,
    /// The masking key, present on every client-to-server frame (§5.3).
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

/// Outcome of decoding the start of a buffer as a frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A complete header of `len` bytes.
    Header(FrameHeader, usize),
    /// The buffer holds the start of a header that needs `needed` bytes in total.
    Incomplete {
        /// Total header length implied by the bytes seen so far (2 while fewer than 2 are known).
        needed: usize,
    },
}

/// Header length implied by the first two header bytes.
#[inline]
pub const fn header_len(b0_b1: [u8; 2]) -> usize {
    let masked = b0_b1[1] & 0x80 != 0;
    let ext = match b0_b1[1] & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if masked { 4 } else { 0 }
}

impl FrameHeader {
    /// Decodes a header from the start of `buf`.
    ///
    /// Never panics, whatever `buf` holds. Errors are the violations visible in the header
    /// itself, each carrying its close code.
    #[inline]
    pub fn decode(buf: &[u8]) -> Result<Decoded, ProtocolError> {
        let (b0, b1) = match buf {
            [b0, b1, ..] => (*b0, *b1),
            _ => return Ok(Decoded::Incomplete { needed: 2 }),
        };
        let len = header_len([b0, b1]);
        if buf.len() < len {
            return Ok(Decoded::Incomplete { needed: len });
        }
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x7;
        let opcode = OpCode::from_u8(b0 & 0x0F).ok_or(ProtocolError::ReservedOpcode(b0 & 0x0F))?;
        let short = (b1 & 0x7F) as u64;
        let (payload_len, key_at) = match short {
            126 => {
                let v = u16::from_be_bytes([buf[2], buf[3]]) as u64;
                if v < 126 {
                    return Err(ProtocolError::NonMinimalLength);
                }
                (v, 4)
            }
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[2..10]);
                let v = u64::from_be_bytes(b);
                // §5.2: "the most significant bit MUST be 0".
                if v >> 63 != 0 {
                    return Err(ProtocolError::LengthMsbSet);
                }
                if v <= u16::MAX as u64 {
                    return Err(ProtocolError::NonMinimalLength);
                }
                (v, 10)
            }
            n => (n, 2),
        };
        if opcode.is_control() {
            // §5.5: control frames MUST have a payload length of 125 bytes or less and MUST NOT
            // be fragmented.
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooLong);
            }
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
        }
        let mask = if b1 & 0x80 != 0 {
            Some([
                buf[key_at],
                buf[key_at + 1],
                buf[key_at + 2],
                buf[key_at + 3],
            ])
        } else {
            None
        };
        Ok(Decoded::Header(
            FrameHeader {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            },
            len,
        ))
    }

    /// Number of bytes [`encode`](Self::encode) writes.
    pub const fn encoded_len(&self) -> usize {
        let ext = if self.payload_len < 126 {
            0
        } else if self.payload_len <= u16::MAX as u64 {
            2
        } else {
            8
        };
        2 + ext + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header with the minimal length encoding; returns its length.
    ///
    /// `out` must hold at least [`encoded_len`](Self::encoded_len) bytes (at most
    /// [`MAX_HEADER_LEN`]); the engine checks this before calling. The payload length must be
    /// below 2^63 (§5.2).
    pub fn encode(&self, out: &mut [u8]) -> usize {
        let mut b0 = self.opcode.as_u8() | ((self.rsv & 0x7) << 4);
        if self.fin {
            b0 |= 0x80;
        }
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        out[0] = b0;
        let mut at = if self.payload_len < 126 {
            out[1] = mask_bit | self.payload_len as u8;
            2
        } else if self.payload_len <= u16::MAX as u64 {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&(self.payload_len as u16).to_be_bytes());
            4
        } else {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&(self.payload_len & (u64::MAX >> 1)).to_be_bytes());
            10
        };
        if let Some(key) = self.mask {
            out[at..at + 4].copy_from_slice(&key);
            at += 4;
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(buf: &[u8]) -> Result<(FrameHeader, usize), ProtocolError> {
        match FrameHeader::decode(buf)? {
            Decoded::Header(h, n) => Ok((h, n)),
            Decoded::Incomplete { needed } => panic!("incomplete, needs {needed}"),
        }
    }

    #[test]
    fn rfc6455_5_7_examples() {
        // Unmasked "Hello".
        let (h, n) = decode_all(&[0x81, 0x05]).unwrap();
        assert_eq!(
            (h.fin, h.opcode, h.payload_len, h.mask, n),
            (true, OpCode::Text, 5, None, 2)
        );
        // Masked "Hello".
        let (h, n) = decode_all(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]).unwrap();
        assert_eq!((h.mask, n), (Some([0x37, 0xfa, 0x21, 0x3d]), 6));
        // First fragment of an unmasked text message.
        let (h, _) = decode_all(&[0x01, 0x03]).unwrap();
        assert!(!h.fin && h.opcode == OpCode::Text);
        // 256 bytes binary in a single unmasked frame: 16-bit length.
        let (h, n) = decode_all(&[0x82, 0x7E, 0x01, 0x00]).unwrap();
        assert_eq!((h.payload_len, n), (256, 4));
        // 64 KiB binary: 64-bit length.
        let (h, n) = decode_all(&[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap();
        assert_eq!((h.payload_len, n), (65536, 10));
    }

    #[test]
    fn rfc6455_5_2_length_msb_must_be_zero() {
        let buf = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(FrameHeader::decode(&buf), Err(ProtocolError::LengthMsbSet));
    }

    #[test]
    fn rfc6455_5_2_minimal_length_encoding_required() {
        assert_eq!(
            FrameHeader::decode(&[0x82, 0x7E, 0, 125]),
            Err(ProtocolError::NonMinimalLength)
        );
        let buf = [0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF];
        assert_eq!(
            FrameHeader::decode(&buf),
            Err(ProtocolError::NonMinimalLength)
        );
    }

    #[test]
    fn rfc6455_5_2_reserved_opcodes_rejected() {
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(
                FrameHeader::decode(&[0x80 | op, 0]),
                Err(ProtocolError::ReservedOpcode(op))
            );
        }
    }

    #[test]
    fn rfc6455_5_5_control_frames_short_and_unfragmented() {
        assert_eq!(
            FrameHeader::decode(&[0x89, 0x7E, 0, 126]),
            Err(ProtocolError::ControlFrameTooLong)
        );
        assert_eq!(
            FrameHeader::decode(&[0x09, 0x00]),
            Err(ProtocolError::FragmentedControlFrame)
        );
        assert!(decode_all(&[0x89, 125]).is_ok());
    }

    #[test]
    fn incomplete_header_reports_needed_length() {
        assert_eq!(
            FrameHeader::decode(&[]),
            Ok(Decoded::Incomplete { needed: 2 })
        );
        assert_eq!(
            FrameHeader::decode(&[0x82]),
            Ok(Decoded::Incomplete { needed: 2 })
        );
        assert_eq!(
            FrameHeader::decode(&[0x82, 0xFF, 0]),
            Ok(Decoded::Incomplete { needed: 14 })
        );
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(fin in any::<bool>(), rsv in 0u8..8, op in prop::sample::select(&[0u8, 1, 2, 8, 9, 10][..]),
                                    mask in any::<Option<[u8; 4]>>(), len in prop_oneof![0u64..126, 126u64..=65535, 65536u64..(1 << 63)]) {
            let opcode = OpCode::from_u8(op).unwrap();
            let payload_len = if opcode.is_control() { len % 126 } else { len };
            let h = FrameHeader { fin: fin || opcode.is_control(), rsv, opcode, mask, payload_len };
            let mut out = [0u8; MAX_HEADER_LEN];
            let n = h.encode(&mut out);
            prop_assert_eq!(n, h.encoded_len());
            prop_assert_eq!(decode_all(&out[..n]).unwrap(), (h, n));
            for short in 0..n {
                let incomplete = matches!(FrameHeader::decode(&out[..short]), Ok(Decoded::Incomplete { .. }));
                prop_assert!(incomplete);
            }
        }

        #[test]
        fn decode_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..20)) {
            let _ = FrameHeader::decode(&buf);
        }
    }
}
