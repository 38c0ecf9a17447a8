//! URL parsing (in progress).
