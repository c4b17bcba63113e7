//! mayfly-tuning: topology reader, placement plans, host checks.
