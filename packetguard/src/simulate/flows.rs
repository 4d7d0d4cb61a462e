//! Flow CSV input (to be written).

use super::run::{Outcome, Request};
use super::SimulateError;

pub fn simulate_flows(req: &Request) -> Result<Outcome, SimulateError> {
    Err(SimulateError::NotAnInput(req.input.clone()))
}
