//! Blocking `std::io` adapter (in progress).
