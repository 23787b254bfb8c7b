//! Adapter discovery and selection.
//!
//! `WGPU_BACKEND` (for example `vulkan`, `metal`, `dx12`, `gl`) limits the backends that
//! are searched, as in every wgpu program.

use std::fmt;

/// One adapter that wgpu found, with its position in the listing.
#[derive(Clone, Debug)]
pub struct AdapterEntry {
    pub index: usize,
    pub info: wgpu::AdapterInfo,
}

impl fmt::Display for AdapterEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>2}  {}  ({:?}, {}, driver: {} {})",
            self.index,
            self.info.name,
            self.info.backend,
            device_type_name(self.info.device_type),
            self.info.driver,
            self.info.driver_info
        )
    }
}

/// Lower-case name of a device type, as printed in listings and summaries.
pub fn device_type_name(device_type: wgpu::DeviceType) -> &'static str {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => "discrete-gpu",
        wgpu::DeviceType::IntegratedGpu => "integrated-gpu",
        wgpu::DeviceType::VirtualGpu => "virtual-gpu",
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::Other => "other",
    }
}

/// Preference when no adapter is requested: discrete, integrated, virtual, CPU, other.
fn preference_rank(device_type: wgpu::DeviceType) -> u8 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// Creates an instance whose backends come from `WGPU_BACKEND` when it is set.
pub fn create_instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

/// Lists every adapter of the instance, in wgpu's enumeration order.
pub fn enumerate(instance: &wgpu::Instance) -> Vec<(AdapterEntry, wgpu::Adapter)> {
    let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all());
    pollster::block_on(instance.enumerate_adapters(backends))
        .into_iter()
        .enumerate()
        .map(|(index, adapter)| {
            (
                AdapterEntry {
                    index,
                    info: adapter.get_info(),
                },
                adapter,
            )
        })
        .collect()
}

/// Index into `entries` of the adapter chosen when none is requested.
pub fn default_choice(entries: &[AdapterEntry]) -> Option<usize> {
    entries
        .iter()
        .enumerate()
        .min_by_key(|(position, entry)| (preference_rank(entry.info.device_type), *position))
        .map(|(position, _)| position)
}

/// Finds the adapter named by `request`: an index from the listing, a backend name
/// (`vulkan`, `metal`, `dx12`, `gl`) or a case-insensitive part of the adapter name. A
/// backend or a name part that matches several adapters takes the preferred one, as
/// [`default_choice`] orders them, and logs the others. Returns the position in `entries`.
pub fn find(entries: &[AdapterEntry], request: &str) -> Option<usize> {
    let request = request.trim();
    if let Ok(index) = request.parse::<usize>() {
        return entries.iter().position(|entry| entry.index == index);
    }
    let needle = request.to_lowercase();
    let by_backend: Vec<usize> = (0..entries.len())
        .filter(|&i| format!("{:?}", entries[i].info.backend).to_lowercase() == needle)
        .collect();
    let matches: Vec<usize> = if by_backend.is_empty() {
        (0..entries.len())
            .filter(|&i| entries[i].info.name.to_lowercase().contains(&needle))
            .collect()
    } else {
        by_backend
    };
    let candidates: Vec<AdapterEntry> = matches.iter().map(|&i| entries[i].clone()).collect();
    let chosen = matches[default_choice(&candidates)?];
    if matches.len() > 1 {
        log::warn!(
            "--adapter {request:?} matches {} adapters; using {}, pass an index to choose \
             another:\n{}",
            matches.len(),
            entries[chosen].index,
            format_listing(entries)
        );
    }
    Some(chosen)
}

/// Formats the adapter listing, marking the default choice with `*`.
pub fn format_listing(entries: &[AdapterEntry]) -> String {
    let default = default_choice(entries);
    let mut text = String::new();
    for (position, entry) in entries.iter().enumerate() {
        let mark = if Some(position) == default { "*" } else { " " };
        text.push_str(&format!("{mark} {entry}\n"));
    }
    text
}
