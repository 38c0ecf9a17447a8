//! Opening handshake (in progress).
