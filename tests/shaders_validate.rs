//! Every shader file parses and validates with naga; needs no GPU.

use cifar_gpu::gpu::pipeline::shaders;

#[test]
fn every_shader_parses_and_validates() {
    for shader in shaders::ALL {
        let source = shader.full_source();
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|error| panic!("{}: {}", shader.name, error.emit_to_string(&source)));
        let mut validator = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        );
        if let Err(error) = validator.validate(&module) {
            panic!("{}: {}", shader.name, error.emit_to_string(&source));
        }
        assert!(
            !module.entry_points.is_empty(),
            "{} has no entry point",
            shader.name
        );
    }
}

#[test]
fn shader_list_covers_every_file() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .expect("shaders/ is readable")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".wgsl") && name != "common.wgsl")
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = shaders::ALL
        .iter()
        .map(|shader| format!("{}.wgsl", shader.name))
        .collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}
