//! cifar-gpu: trains convolutional networks on CIFAR-10, CIFAR-100 and image folders with
//! every kernel written as a WGSL compute shader run through wgpu.

pub mod checkpoint;
pub mod cli;
pub mod console;
pub mod data;
pub mod eval;
pub mod gpu;
pub mod model;
pub mod ops;
pub mod profile;
pub mod reference;
pub mod train;
