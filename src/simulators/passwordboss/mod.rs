//! Password Boss API simulator.
