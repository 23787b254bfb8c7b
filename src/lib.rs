//! cifar-gpu: trains convolutional networks on CIFAR-10, CIFAR-100 and image folders with
//! every kernel written as a WGSL compute shader run through wgpu.

pub mod data;
pub mod gpu;
pub mod ops;
pub mod reference;
