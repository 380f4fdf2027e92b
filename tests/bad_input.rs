//! Bad input to the `wgnn` binary. Every case must end with one line on stderr, `error: ...`, that
//! names what is wrong; a non-zero exit; no panic; and nothing the user already had overwritten.
//! (An adapter name that matches nothing is tested in tests/cli.rs.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use image::RgbImage;
use safetensors::tensor::{Dtype, TensorView};

#[allow(dead_code)] // each test binary uses its own part
#[path = "support/cli.rs"]
mod cli_support;
use cli_support::{Scratch, eval_args, headless, ok, predict_args, text, train_args};

/// Runs wgnn and checks that it failed as a user should see it: a non-zero exit, and on stderr
/// exactly one line starting `error: `, with no panic, holding every one of `words`.
#[track_caller]
fn fails(args: &[&str], words: &[&str]) {
    let out: Output = headless().args(args).output().expect("run wgnn");
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "wgnn {args:?} succeeded:\n{}{stderr}",
        text(&out.stdout)
    );
    assert!(
        !stderr.contains("panicked"),
        "wgnn {args:?} panicked:\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "wgnn {args:?} wrote more than one line:\n{stderr}"
    );
    assert!(lines[0].starts_with("error: "), "wgnn {args:?}: {stderr}");
    for word in words {
        assert!(
            lines[0].contains(word),
            "wgnn {args:?}: no {word:?} in {}",
            lines[0]
        );
    }
}

/// Scratch folders of data to break.
impl Scratch {
    /// A folder of valid data written by `wgnn synth` (`args`: the task and its options).
    fn synth(&self, name: &str, args: &[&str]) -> PathBuf {
        let dir = self.path(name);
        let out = headless()
            .arg("synth")
            .args(args)
            .arg("--out")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        dir
    }

    /// Classification data: `ten`, four images of the default ten classes (labels 0 to 3), and
    /// `thirteen`, 13 images of 13 classes (labels 0 to 12).
    fn ten_and_thirteen(&self) -> (PathBuf, PathBuf) {
        let ten = self.synth("ten", &["classify", "--count", "4"]);
        let thirteen = self.synth(
            "thirteen",
            &["classify", "--count", "13", "--classes", "13"],
        );
        (ten, thirteen)
    }

    /// A copy of folder `from` (flat), to break without touching the original.
    fn copy(&self, from: &Path, name: &str) -> PathBuf {
        let dir = self.path(name);
        std::fs::create_dir(&dir).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
        dir
    }

    /// A folder of the user's own `files` where a command will write, recorded.
    fn user_folder(&self, name: &str, files: &[&str]) -> Untouched {
        let dir = self.path(name);
        std::fs::create_dir(&dir).unwrap();
        for file in files {
            std::fs::write(dir.join(file), format!("the user's own {file}")).unwrap();
        }
        Untouched::record(&dir)
    }

    /// The output folder of an earlier `wgnn train`.
    fn earlier_run(&self, name: &str) -> Untouched {
        self.user_folder(
            name,
            &["last.safetensors", "best.safetensors", "metrics.csv"],
        )
    }
}

/// The files of a folder, recorded to check that a failed run leaves them, and only them, as they
/// were (no file rewritten, none added, not even a temporary one).
struct Untouched {
    dir: PathBuf,
    files: BTreeMap<PathBuf, Vec<u8>>,
}

impl Untouched {
    fn record(dir: &Path) -> Untouched {
        Untouched {
            dir: dir.to_owned(),
            files: Untouched::read(dir),
        }
    }

    fn read(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                (path, bytes)
            })
            .collect()
    }

    #[track_caller]
    fn check(&self) {
        assert!(
            Untouched::read(&self.dir) == self.files,
            "{} changed",
            self.dir.display()
        );
    }
}

/// A state_dict entry: name, shape and dtype.
struct Entry {
    name: String,
    shape: Vec<usize>,
    dtype: Dtype,
}

/// The state_dict of a PyTorch printout in tests/fixtures/pytorch (`name [shape] dtype` lines),
/// which tests/models checks wgnn's models against.
fn state_dict(fixture: &str) -> Vec<Entry> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pytorch")
        .join(fixture);
    let entries: Vec<Entry> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(" [")?;
            let (dims, dtype) = rest.split_once("] ")?;
            let dtype = match dtype {
                "float32" => Dtype::F32,
                "int64" => Dtype::I64,
                _ => return None,
            };
            let shape = dims
                .split(", ")
                .filter(|d| !d.is_empty())
                .map(|d| d.parse().unwrap())
                .collect();
            Some(Entry {
                name: name.to_owned(),
                shape,
                dtype,
            })
        })
        .collect();
    assert!(entries.len() > 50, "{fixture} has a state_dict");
    entries
}

/// Writes `entries` as a safetensors checkpoint of zeros: complete ones load, and the bad ones are
/// made by editing the entries first. Zeros suffice, as no test here gets as far as running a model.
fn write_checkpoint(path: &Path, entries: &[Entry]) {
    let bytes = |e: &Entry| e.shape.iter().product::<usize>() * e.dtype.bitsize() / 8;
    let zeros = vec![0u8; entries.iter().map(bytes).max().unwrap()];
    let views: Vec<(&str, TensorView)> = entries
        .iter()
        .map(|e| {
            let view = TensorView::new(e.dtype, e.shape.clone(), &zeros[..bytes(e)]).unwrap();
            (e.name.as_str(), view)
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// VGG16-bn with 10 classes, the model of tests/fixtures/pytorch/vgg16bn_c10.txt.
fn vgg_weights(s: &Scratch) -> String {
    write_checkpoint(&s.path("vgg.safetensors"), &state_dict("vgg16bn_c10.txt"));
    s.arg("vgg.safetensors")
}

/// FCN32s with the 7 land-cover classes.
fn fcn_weights(s: &Scratch) -> String {
    write_checkpoint(&s.path("fcn.safetensors"), &state_dict("fcn32s.txt"));
    s.arg("fcn.safetensors")
}

/// An image of the size its folder holds, saved under a new name (and format, by extension).
fn save_as(from: &Path, to: &Path) {
    image::open(from).unwrap().save(to).unwrap();
}

#[test]
fn missing_and_empty_data_folders_are_named() {
    let s = Scratch::new();
    let valid = s.synth("valid", &["classify", "--count", "4"]);
    let valid = valid.to_str().unwrap();
    std::fs::create_dir(s.path("empty_folder")).unwrap();
    let (missing, empty) = (s.arg("no_such_folder"), s.arg("empty_folder"));
    let weights = vgg_weights(&s);
    let run = s.arg("run");
    for task in ["classify", "segment"] {
        fails(
            &train_args(task, &missing, &run, &[]),
            &["cannot read folder", "no_such_folder"],
        );
        fails(
            &train_args(task, &empty, &run, &[]),
            &["empty_folder holds no"],
        );
    }
    fails(
        &train_args("classify", valid, &run, &["--val", &missing]),
        &["cannot read folder", "no_such_folder"],
    );
    assert!(!s.path("run").exists(), "a failed run creates no --out");

    for folder in [&missing, &empty] {
        let name = Path::new(folder).file_name().unwrap().to_str().unwrap();
        fails(&eval_args("classify", &weights, folder), &[name]);
    }
    let preds = s.user_folder("results", &["preds.csv"]);
    let out = s.arg("results/preds.csv");
    fails(
        &predict_args("classify", &weights, &missing, &out, &[]),
        &["cannot read folder", "no_such_folder"],
    );
    fails(
        &predict_args("classify", &weights, &empty, &out, &[]),
        &["empty_folder holds no PNG or JPEG images"],
    );
    preds.check();
}

#[test]
fn files_that_break_the_layout_are_named() {
    let s = Scratch::new();
    let classes = s.synth("classes", &["classify", "--count", "4"]);
    let weights = vgg_weights(&s);
    for name in ["cat.png", "x_1.png"] {
        let data = s.copy(&classes, &format!("with_{name}"));
        std::fs::copy(classes.join("0_0.png"), data.join(name)).unwrap();
        let data = data.to_str().unwrap();
        fails(
            &train_args("classify", data, &s.arg("run"), &[]),
            &[name, "does not follow", "{label}_{index}.png"],
        );
        fails(
            &eval_args("classify", &weights, data),
            &[name, "{label}_{index}.png"],
        );
    }
    assert!(!s.path("run").exists());

    let tiles = s.synth("tiles", &["segment", "--count", "2"]);
    let tile = tiles.join("0000_sat.png");
    let broken = |name: &str, file: &str| {
        let data = s.copy(&tiles, name);
        save_as(&tile, &data.join(file));
        data.to_string_lossy().into_owned()
    };
    let unpaired = broken("unpaired", "5_sat.jpg");
    fails(
        &train_args("segment", &unpaired, &s.arg("run"), &[]),
        &["5_sat.jpg has no mask", "5_mask.png"],
    );
    for odd in ["tile.png", "0001_mask.jpg"] {
        let data = broken(&format!("with_{odd}"), odd);
        fails(
            &train_args("segment", &data, &s.arg("run"), &[]),
            &[odd, "does not follow the segmentation layout"],
        );
    }
    let twice = broken("twice", "0000_sat.jpg");
    fails(
        &train_args("segment", &twice, &s.arg("run"), &[]),
        &["0000_sat.jpg", "0000_sat.png", "0000_mask.png"],
    );
    assert!(!s.path("run").exists());
}

#[test]
fn corrupt_and_truncated_images_are_named() {
    let s = Scratch::new();
    let classes = s.synth("classes", &["classify", "--count", "4"]);
    let weights = vgg_weights(&s);
    let png = std::fs::read(classes.join("3_3.png")).unwrap();
    let results = s.user_folder("results", &["preds.csv"]);
    let preds = s.arg("results/preds.csv");
    for (name, bytes) in [
        ("corrupt", &b"a text file named .png"[..]),
        ("truncated", &png[..100]),
    ] {
        let data = s.copy(&classes, name);
        std::fs::write(data.join("3_3.png"), bytes).unwrap();
        let data = data.to_str().unwrap();
        let words = ["cannot decode image", "3_3.png"];
        fails(&train_args("classify", data, &s.arg("run"), &[]), &words);
        fails(&eval_args("classify", &weights, data), &words);
        fails(
            &predict_args("classify", &weights, data, &preds, &[]),
            &words,
        );
    }
    results.check();

    let tiles = s.synth("tiles", &["segment", "--count", "2"]);
    let jpeg_tiles = s.copy(&tiles, "jpeg");
    std::fs::remove_file(jpeg_tiles.join("0001_sat.png")).unwrap();
    let jpeg = jpeg_tiles.join("0001_sat.jpg");
    save_as(&tiles.join("0001_sat.png"), &jpeg);
    let bytes = std::fs::read(&jpeg).unwrap();
    std::fs::write(&jpeg, &bytes[..100]).unwrap();
    fails(
        &train_args("segment", jpeg_tiles.to_str().unwrap(), &s.arg("run"), &[]),
        &["cannot decode image", "0001_sat.jpg"],
    );
    assert!(!s.path("run").exists());
}

#[test]
fn an_image_or_mask_of_another_size_is_named_with_both_sizes() {
    let s = Scratch::new();
    let classes = s.synth("classes", &["classify", "--count", "4"]);
    let small = s.copy(&classes, "small");
    RgbImage::new(16, 16).save(small.join("3_9.png")).unwrap();
    let small = small.to_str().unwrap();
    let words = ["3_9.png", "16x16", "32x32"];
    fails(&train_args("classify", small, &s.arg("run"), &[]), &words);
    fails(&eval_args("classify", &vgg_weights(&s), small), &words);

    let tiles = s.synth("tiles", &["segment", "--count", "2"]);
    let odd_mask = s.copy(&tiles, "odd_mask");
    let mask = odd_mask.join("0001_mask.png");
    image::open(&mask)
        .unwrap()
        .resize_exact(32, 32, image::imageops::FilterType::Nearest)
        .save(&mask)
        .unwrap();
    let odd_mask = odd_mask.to_str().unwrap();
    let words = ["0001_mask.png", "32x32", "64x64"];
    fails(&train_args("segment", odd_mask, &s.arg("run"), &[]), &words);
    fails(&eval_args("segment", &fcn_weights(&s), odd_mask), &words);
    assert!(!s.path("run").exists());
}

#[test]
fn masks_and_images_without_their_pair_are_named() {
    let s = Scratch::new();
    let tiles = s.synth("tiles", &["segment", "--count", "2"]);
    let extra_mask = s.copy(&tiles, "extra_mask");
    std::fs::copy(
        tiles.join("0001_mask.png"),
        extra_mask.join("0007_mask.png"),
    )
    .unwrap();
    let no_mask = s.copy(&tiles, "no_mask");
    std::fs::remove_file(no_mask.join("0001_mask.png")).unwrap();
    let weights = fcn_weights(&s);
    for (data, words) in [
        (&extra_mask, ["0007_mask.png", "has no image"]),
        (&no_mask, ["0001_sat.png", "has no mask"]),
    ] {
        let data = data.to_str().unwrap();
        fails(&train_args("segment", data, &s.arg("run"), &[]), &words);
        fails(&eval_args("segment", &weights, data), &words);
    }
    assert!(!s.path("run").exists());
}

#[test]
fn fcn_inputs_must_be_multiples_of_32() {
    let s = Scratch::new();
    let tiles = s.synth("tiles", &["segment", "--count", "2"]);
    let cropped = s.copy(&tiles, "48x48");
    for entry in std::fs::read_dir(&cropped).unwrap() {
        let path = entry.unwrap().path();
        let image = image::open(&path).unwrap();
        image.crop_imm(0, 0, 48, 48).save(&path).unwrap();
    }
    let data = cropped.to_str().unwrap();
    let earlier = s.earlier_run("run");
    for model in ["fcn32s", "fcn16s", "fcn8s"] {
        fails(
            &train_args("segment", data, &s.arg("run"), &["--model", model]),
            &[data, "48x48", model, "multiples of 32"],
        );
    }
    earlier.check();

    let weights = fcn_weights(&s);
    fails(
        &eval_args("segment", &weights, data),
        &[data, "48x48", "fcn32s", "multiples of 32"],
    );
    let masks = s.user_folder("masks", &["0000_mask.png"]);
    fails(
        &predict_args("segment", &weights, data, &s.arg("masks"), &[]),
        &[data, "48x48", "fcn32s", "multiples of 32"],
    );
    masks.check();
}

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

#[test]
fn labels_outside_the_classes_are_named() {
    let s = Scratch::new();
    let (ten, thirteen) = s.ten_and_thirteen();
    let (ten, thirteen) = (ten.to_str().unwrap(), thirteen.to_str().unwrap());
    let earlier = s.earlier_run("run");
    let run = s.arg("run");
    fails(
        &train_args("classify", thirteen, &run, &["--classes", "10"]),
        &[thirteen, "12_12.png", "label 12", "10 classes"],
    );
    // Without --classes the training labels (0..3) set four classes; the validation set goes beyond.
    fails(
        &train_args("classify", ten, &run, &["--val", thirteen]),
        &[thirteen, "12_12.png", "label 12", "4 classes"],
    );
    earlier.check();
}

#[test]
fn absurd_flags_and_unwritable_outputs_are_one_line() {
    let s = Scratch::new();
    let data = s.synth("classes", &["classify", "--count", "4"]);
    let data = data.to_str().unwrap();
    let earlier = s.earlier_run("run");
    let run = s.arg("run");
    for (flag, value) in [
        ("--batch-size", "0"),
        ("--batch-size", "-4"),
        ("--epochs", "0"),
        ("--epochs", "-1"),
        ("--checkpoint-every", "-1"),
        ("--precise-bn", "-5"),
        ("--lr", "-1"),
        ("--lr", "0"),
        ("--lr", "NaN"),
        ("--lr", "inf"),
        ("--momentum", "-0.5"),
        ("--momentum", "1"),
        ("--weight-decay", "-1"),
        ("--weight-decay", "inf"),
    ] {
        fails(
            &train_args("classify", data, &run, &[flag, value]),
            &[flag, &format!("'{value}'"), "expected"],
        );
    }
    earlier.check();
    let synth = s.arg("synth");
    for (task, size, words) in [
        ("segment", "100", &["--size", "'100'", "multiple of 32"][..]),
        ("segment", "0", &["--size", "'0'", "multiple of 32"]),
        (
            "classify",
            "64",
            &["--size", "classification images are 32x32"],
        ),
    ] {
        fails(&["synth", task, "--out", &synth, "--size", size], words);
    }
    let weights = vgg_weights(&s);
    let mut zero_batch = eval_args("classify", &weights, data);
    zero_batch.extend(["--batch-size", "0"]);
    fails(&zero_batch, &["--batch-size", "at least 1"]);

    // Under a regular file nothing can be created, whoever runs the test (root included).
    std::fs::write(s.path("file"), "a regular file").unwrap();
    fails(
        &train_args("classify", data, &s.arg("file/run"), &[]),
        &["cannot create", "file/run"],
    );
    fails(
        &predict_args("classify", &weights, data, &s.arg("file/preds.csv"), &[]),
        &["cannot write", "file/preds.csv"],
    );
    fails(
        &predict_args("classify", &weights, data, &run, &[]),
        &["cannot write", "is a folder"],
    );
    let logits = ["--logits", &s.arg("file/logits.safetensors")];
    fails(
        &predict_args("classify", &weights, data, &s.arg("preds.csv"), &logits),
        &["cannot write", "file/logits.safetensors"],
    );
    let fcn = fcn_weights(&s);
    fails(
        &predict_args("segment", &fcn, data, &s.arg("file/masks"), &[]),
        &["cannot create", "file/masks"],
    );
    assert!(!s.path("preds.csv").exists());
    earlier.check();
}
