//! Integration tests, compiled into one test binary.
mod prometheus_scrape;
