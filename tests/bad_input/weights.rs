//! Weight files that do not load, or do not fit the model or the data.

use super::*;

#[test]
fn bad_weight_files_name_the_file_or_the_tensor() {
    let s = Scratch::new();
    let data = s.synth("classes", &["classify", "--count", "4"]);
    let data = data.to_str().unwrap();
    let good = vgg_weights(&s);
    let good_bytes = std::fs::read(&good).unwrap();
    // Bytes of a simple generator, for a file of noise that is the same on every run.
    let noise: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let unreadable = [
        ("truncated.safetensors", &good_bytes[..good_bytes.len() / 2]),
        (
            "notes.safetensors",
            &b"these are my notes, not weights\n"[..],
        ),
        ("noise.safetensors", &noise[..]),
    ];
    for (name, bytes) in unreadable {
        std::fs::write(s.path(name), bytes).unwrap();
    }
    let edited = |name: &str, edit: &dyn Fn(&mut Vec<Entry>)| {
        let mut entries = state_dict("vgg16bn_c10.txt");
        edit(&mut entries);
        write_checkpoint(&s.path(name), &entries);
    };
    edited("missing.safetensors", &|e| {
        e.retain(|e| e.name != "features.4.running_mean")
    });
    edited("extra.safetensors", &|e| {
        e.push(Entry {
            name: "features.99.weight".into(),
            shape: vec![1],
            dtype: Dtype::F32,
        })
    });
    edited("misshaped.safetensors", &|e| {
        let conv = e
            .iter_mut()
            .find(|e| e.name == "features.7.weight")
            .unwrap();
        assert_eq!(conv.shape, [128, 64, 3, 3]);
        conv.shape = vec![128, 64, 1, 3];
    });

    let mut cases: Vec<(&str, Vec<&str>)> = unreadable
        .iter()
        .map(|(name, _)| (*name, vec![*name, "not a readable safetensors file"]))
        .collect();
    cases.extend([
        (
            "missing.safetensors",
            vec![
                "missing.safetensors",
                "has no tensor features.4.running_mean",
            ],
        ),
        (
            "extra.safetensors",
            vec![
                "extra.safetensors",
                "features.99.weight",
                "vgg16bn model does not",
            ],
        ),
        (
            "misshaped.safetensors",
            vec!["features.7.weight", "[128, 64, 1, 3]", "[128, 64, 3, 3]"],
        ),
    ]);
    let earlier = s.earlier_run("run");
    for (file, words) in &cases {
        let weights = s.arg(file);
        fails(&eval_args("classify", &weights, data), words);
        // Into the earlier run's folder and into a new one, which must not be created.
        for out in ["run", "fresh"] {
            fails(
                &train_args("classify", data, &s.arg(out), &["--init", &weights]),
                words,
            );
        }
        assert!(!s.path("fresh").exists(), "{file}: --out was created");
    }
    earlier.check();
}

#[test]
fn bad_pth_files_name_the_file_or_the_global() {
    let s = Scratch::new();
    let data = s.synth("classes", &["classify", "--count", "4"]);
    let data = data.to_str().unwrap();
    let (good, pth) = (vgg_weights(&s), s.arg("vgg.pth"));
    ok(&["convert", &good, &pth]);
    let bytes = std::fs::read(&pth).unwrap();
    std::fs::write(s.path("truncated.pth"), &bytes[..bytes.len() / 2]).unwrap();
    // torch's legacy format (magic number, protocol 1001, system information), then a pickle
    // that asks for os.system: refused before anything is built.
    let mut evil = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec();
    evil.extend(b"\x80\x02M\xe9\x03.\x80\x02}.\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsq\x85R.");
    std::fs::write(s.path("evil.pt"), evil).unwrap();
    let cases = [
        (
            "truncated.pth",
            vec!["truncated.pth", "not a readable PyTorch checkpoint"],
        ),
        ("evil.pt", vec!["evil.pt", "os.system", "refused"]),
    ];
    for (file, words) in &cases {
        let weights = s.arg(file);
        fails(&eval_args("classify", &weights, data), words);
        for flag in ["--init", "--backbone"] {
            fails(
                &train_args("classify", data, &s.arg("fresh"), &[flag, &weights]),
                words,
            );
        }
        assert!(!s.path("fresh").exists(), "{file}: --out was created");
        fails(&["convert", &weights, &s.arg("out.safetensors")], words);
        assert!(!s.path("out.safetensors").exists());
    }
    fails(&["convert", &good, &pth], &["vgg.pth", "exists"]);
    assert_eq!(std::fs::read(&pth).unwrap(), bytes);
    fails(
        &["convert", &good, &s.arg("vgg.zip")],
        &["vgg.zip", ".safetensors"],
    );
}

#[test]
fn a_class_count_that_does_not_match_the_weights_is_an_error() {
    let s = Scratch::new();
    let (ten, thirteen) = s.ten_and_thirteen();
    let (ten, thirteen) = (ten.to_str().unwrap(), thirteen.to_str().unwrap());
    let weights = vgg_weights(&s);
    fails(
        &train_args(
            "classify",
            ten,
            &s.arg("run"),
            &["--init", &weights, "--classes", "5"],
        ),
        &["--classes 5", "10 classes", "vgg.safetensors"],
    );
    let too_high = ["12_12.png", "label 12", "10 classes"];
    fails(&eval_args("classify", &weights, thirteen), &too_high);
    fails(
        &train_args("classify", thirteen, &s.arg("run"), &["--init", &weights]),
        &too_high,
    );
    assert!(!s.path("run").exists());
}
