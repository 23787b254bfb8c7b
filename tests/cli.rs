//! The binary as a user runs it: exit status, stdout and stderr.

#[path = "common/synthetic.rs"]
mod synthetic;

use std::path::Path;
use std::process::{Command, Output};

fn cifar_gpu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cifar-gpu"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn train_on(dir: &Path) -> Output {
    cifar_gpu(&["train", "--data", dir.to_str().unwrap(), "--epochs", "1"])
}

#[test]
fn adapters_lists_and_marks_default() {
    let output = cifar_gpu(&["adapters"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let marked: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with('*'))
        .collect();
    assert_eq!(marked.len(), 1, "exactly one default adapter:\n{stdout}");
    assert!(
        stdout.lines().any(|line| line.contains("  0  ")),
        "index 0 listed:\n{stdout}"
    );
}

#[test]
fn unknown_adapter_fails_with_listing() {
    let data = tempfile::tempdir().unwrap();
    synthetic::write_image_folder(data.path(), 2, 2, 1, 12, 1);
    let output = cifar_gpu(&[
        "train",
        "--data",
        data.path().to_str().unwrap(),
        "--adapter",
        "no-such-adapter-xyz",
    ]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("no adapter matches --adapter \"no-such-adapter-xyz\""),
        "{text}"
    );
    assert!(text.contains("  0  "), "the listing is printed:\n{text}");
}

#[test]
fn fails_for_directory_without_dataset() {
    let empty = tempfile::tempdir().unwrap();
    let output = train_on(empty.path());
    assert!(!output.status.success());
    let text = stderr(&output);
    for expected in [
        "data_batch_1.bin",
        "train.bin",
        "train-images-idx3-ubyte",
        "train/<class>",
    ] {
        assert!(
            text.contains(expected),
            "error lists the {expected} layout:\n{text}"
        );
    }
}

#[test]
fn fails_for_truncated_cifar10_batch() {
    let dir = tempfile::tempdir().unwrap();
    // Two whole records and 100 stray bytes.
    let mut bytes = vec![0u8; 2 * 3073 + 100];
    bytes[3073] = 1;
    for name in [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
    ] {
        std::fs::write(dir.path().join(name), vec![0u8; 3073]).unwrap();
    }
    std::fs::write(dir.path().join("data_batch_5.bin"), &bytes).unwrap();
    std::fs::write(dir.path().join("test_batch.bin"), vec![0u8; 3073]).unwrap();
    let output = train_on(dir.path());
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("data_batch_5.bin"), "names the file:\n{text}");
    assert!(
        text.contains(&(2 * 3073 + 100).to_string()),
        "names the size:\n{text}"
    );
    assert!(text.contains("3073"), "names the record size:\n{text}");
}

#[test]
fn fails_for_label_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = vec![0u8; 3 * 3073];
    bytes[2 * 3073] = 12;
    for name in [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
    ] {
        std::fs::write(dir.path().join(name), vec![0u8; 3073]).unwrap();
    }
    std::fs::write(dir.path().join("data_batch_5.bin"), vec![0u8; 3073]).unwrap();
    std::fs::write(dir.path().join("test_batch.bin"), &bytes).unwrap();
    let output = train_on(dir.path());
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("test_batch.bin"), "names the file:\n{text}");
    assert!(text.contains("12"), "names the value:\n{text}");
    assert!(text.contains("record 2"), "names the record:\n{text}");
}

#[test]
fn fails_for_image_of_wrong_size() {
    let dir = tempfile::tempdir().unwrap();
    synthetic::write_image_folder(dir.path(), 2, 3, 1, 12, 1);
    let odd = dir.path().join("train").join("class_01").join("odd.png");
    image::RgbImage::new(9, 7).save(&odd).unwrap();
    let output = train_on(dir.path());
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("odd.png"), "names the file:\n{text}");
    assert!(
        text.contains('9') && text.contains('7'),
        "names its size:\n{text}"
    );
}

#[test]
fn rejects_invalid_validation_split() {
    let dir = tempfile::tempdir().unwrap();
    synthetic::write_image_folder(dir.path(), 2, 3, 1, 12, 1);
    let output = cifar_gpu(&[
        "train",
        "--data",
        dir.path().to_str().unwrap(),
        "--val-split",
        "1.5",
    ]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("--val-split 1.5"), "{text}");
}

#[test]
fn train_writes_outputs() {
    let data = tempfile::tempdir().unwrap();
    synthetic::write_image_folder(data.path(), 2, 6, 2, 12, 3);
    let out = tempfile::tempdir().unwrap();
    let output = cifar_gpu(&[
        "train",
        "--data",
        data.path().to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("epoch 1/1  loss"),
        "epoch line printed:\n{stdout}"
    );
    assert!(
        stdout.contains("test: loss"),
        "test line printed:\n{stdout}"
    );
    for file in [
        "history.csv",
        "summary.json",
        "checkpoint/model.json",
        "checkpoint/weights.safetensors",
    ] {
        assert!(out.path().join(file).is_file(), "{file} written");
    }
}

#[test]
fn evaluate_and_predict_use_checkpoint() {
    let data = tempfile::tempdir().unwrap();
    synthetic::write_image_folder(data.path(), 3, 6, 3, 12, 4);
    let out = tempfile::tempdir().unwrap();
    let data_arg = data.path().to_str().unwrap();
    let output = cifar_gpu(&[
        "train",
        "--data",
        data_arg,
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let checkpoint = out.path().join("checkpoint");
    let report_dir = out.path().join("report");

    let output = cifar_gpu(&[
        "evaluate",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--data",
        data_arg,
        "--split",
        "val",
        "--zero-diagonal",
        "--out",
        report_dir.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("val split: 3 images"), "{stdout}");
    for file in [
        "report.json",
        "per_class.csv",
        "confusion_matrix.json",
        "confusion_matrix.png",
    ] {
        assert!(report_dir.join(file).is_file(), "{file} written");
    }

    let image = data.path().join("test").join("class_01").join("0000.png");
    let output = cifar_gpu(&[
        "predict",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--json",
        "--top-k",
        "2",
        image.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json[0]["top"].as_array().unwrap().len(), 2);
    assert!(json[0]["top"][0]["probability"].as_f64().unwrap() > 0.0);
}

#[test]
fn evaluate_fails_for_missing_checkpoint() {
    let empty = tempfile::tempdir().unwrap();
    let output = cifar_gpu(&[
        "evaluate",
        "--checkpoint",
        empty.path().to_str().unwrap(),
        "--data",
        empty.path().to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("model.json"),
        "names the missing file:\n{text}"
    );
}

#[test]
fn predict_fails_for_unreadable_image() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    synthetic::write_image_folder(&data, 2, 3, 1, 12, 2);
    let out = dir.path().join("out");
    let output = cifar_gpu(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let bogus = dir.path().join("not-an-image.png");
    std::fs::write(&bogus, b"plain text").unwrap();
    let output = cifar_gpu(&[
        "predict",
        "--checkpoint",
        out.join("checkpoint").to_str().unwrap(),
        bogus.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("not-an-image.png"), "names the file:\n{text}");
}

#[test]
fn train_refuses_to_replace_earlier_run() {
    let data = tempfile::tempdir().unwrap();
    synthetic::write_image_folder(data.path(), 2, 4, 2, 12, 5);
    let out = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--data",
            data.path().to_str().unwrap(),
            "--epochs",
            "1",
            "--out",
            out.path().to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        cifar_gpu(&args)
    };
    assert!(run(&[]).status.success());
    let history = std::fs::read(out.path().join("history.csv")).unwrap();
    let output = run(&[]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("already contains a training run"), "{text}");
    assert!(text.contains("--overwrite"), "{text}");
    assert_eq!(
        std::fs::read(out.path().join("history.csv")).unwrap(),
        history,
        "history kept"
    );
    assert!(run(&["--overwrite"]).status.success());
}

#[test]
fn closed_stdout_keeps_checkpoint() {
    let data = tempfile::tempdir().unwrap();
    synthetic::write_image_folder(data.path(), 2, 4, 2, 12, 6);
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cifar-gpu"))
        .args([
            "train",
            "--data",
            data.path().to_str().unwrap(),
            "--epochs",
            "2",
            "--out",
        ])
        .arg(out.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end at once, as `| head -0` would.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(out
        .path()
        .join("checkpoint")
        .join("weights.safetensors")
        .is_file());
    assert!(out.path().join("summary.json").is_file());
}

#[test]
fn rejects_shift_as_large_as_image() {
    let data = tempfile::tempdir().unwrap();
    synthetic::write_image_folder(data.path(), 2, 3, 1, 12, 1);
    let output = cifar_gpu(&[
        "train",
        "--data",
        data.path().to_str().unwrap(),
        "--max-shift",
        "12",
    ]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("--max-shift 12") && text.contains("12x12"),
        "{text}"
    );
}

#[test]
fn small_images_name_minimum_size() {
    let data = tempfile::tempdir().unwrap();
    synthetic::write_image_folder(data.path(), 2, 3, 1, 6, 1);
    let output = cifar_gpu(&[
        "train",
        "--data",
        data.path().to_str().unwrap(),
        "--max-shift",
        "1",
    ]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("at least 10x10 pixels") && text.contains("6x6"),
        "{text}"
    );
}
