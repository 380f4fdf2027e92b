//! Autograd through composite graphs, the models against PyTorch's printouts and state_dicts,
//! and checkpoints.

mod autograd;
mod checkpoint;
mod common;
mod models;
