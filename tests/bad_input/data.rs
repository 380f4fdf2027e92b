//! Data folders that break the layout, images that do not decode or fit, labels outside the classes.

use super::*;

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
