//! embedded-io-async adapter (in progress).
#![no_std]
