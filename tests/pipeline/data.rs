//! Folder layouts, decoding, normalisation, the mask colour code, and the batch loader.

use std::path::Path;
use std::sync::Arc;

use image::{Rgb, RgbImage};
use wgnn::data::{
    Augment, Batches, ClassifyFolder, Dataset, IMAGENET_MEAN, IMAGENET_STD, ImageFolder,
    LAND_COVER, SegmentFolder, SyntheticClassify, SyntheticSegment, mask_class,
};

/// Saves a black `width` x `height` image as `dir/name`, in the format its extension names.
fn save_black(dir: &Path, name: &str, width: u32, height: u32) {
    RgbImage::new(width, height).save(dir.join(name)).unwrap();
}

#[test]
fn mask_colours_map_to_classes_by_thresholding() {
    for (class, (_, rgb)) in LAND_COVER.iter().enumerate() {
        assert_eq!(mask_class(*rgb), class as i32, "{rgb:?}");
    }
    assert_eq!(mask_class([255, 0, 0]), 6, "red is unknown");
    assert_eq!(
        mask_class([200, 30, 140]),
        2,
        "off-colour magenta thresholds to rangeland"
    );
    assert_eq!(
        mask_class([127, 128, 128]),
        0,
        "127 is below the threshold, 128 is not"
    );
    assert_eq!(mask_class([10, 250, 5]), 3);
}

#[test]
fn classification_folder_reads_labels_and_normalises() {
    let dir = tempfile::tempdir().unwrap();
    let img = RgbImage::from_fn(32, 32, |x, _| Rgb([x as u8 * 8, 0, 255]));
    img.save(dir.path().join("17_233.png")).unwrap();
    img.save(dir.path().join("3_1.png")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
    let data = ClassifyFolder::open(dir.path()).unwrap();
    assert_eq!((data.len(), data.classes()), (2, 18));
    let e = data.get(0).unwrap();
    assert_eq!(e.id, "17_233.png");
    assert!(matches!(e.target, wgnn::data::Target::Label(17)));
    let px = |c: usize, x: usize| e.image[c * 1024 + x];
    assert!((px(0, 1) - (8.0 / 255.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]).abs() < 1e-6);
    assert!((px(2, 5) - (1.0 - IMAGENET_MEAN[2]) / IMAGENET_STD[2]).abs() < 1e-6);
}

#[test]
fn badly_named_files_are_clear_errors() {
    for name in ["cat.png", "x_1.png", "3_b.png"] {
        let dir = tempfile::tempdir().unwrap();
        save_black(dir.path(), name, 4, 4);
        let e = ClassifyFolder::open(dir.path()).err().unwrap().to_string();
        assert!(e.contains(name) && e.contains("{label}_{index}.png"), "{e}");
    }
    let empty = tempfile::tempdir().unwrap();
    assert!(
        ClassifyFolder::open(empty.path())
            .err()
            .unwrap()
            .to_string()
            .contains("holds no")
    );
    assert!(SegmentFolder::open(empty.path()).is_err());
    assert!(
        ClassifyFolder::open(&empty.path().join("missing"))
            .err()
            .unwrap()
            .to_string()
            .contains("cannot read folder")
    );
}

#[test]
fn segmentation_folder_pairs_tiles_with_masks() {
    let dir = tempfile::tempdir().unwrap();
    let mut mask = RgbImage::from_pixel(4, 2, Rgb([0, 255, 255]));
    mask.put_pixel(1, 0, Rgb([255, 0, 0]));
    mask.put_pixel(2, 1, Rgb([0, 0, 250]));
    save_black(dir.path(), "0010_sat.jpg", 4, 2);
    mask.save(dir.path().join("0010_mask.png")).unwrap();
    save_black(dir.path(), "0097_sat.png", 4, 2);
    mask.save(dir.path().join("0097_mask.png")).unwrap();
    let data = SegmentFolder::open(dir.path()).unwrap();
    assert_eq!(
        (data.len(), data.id(0), data.id(1)),
        (2, "0010".to_owned(), "0097".to_owned())
    );
    let wgnn::data::Target::Mask(m) = data.get(0).unwrap().target else {
        panic!("a mask")
    };
    assert_eq!(m, [0, 6, 0, 0, 0, 0, 4, 0]);

    std::fs::remove_file(dir.path().join("0097_mask.png")).unwrap();
    let e = SegmentFolder::open(dir.path()).err().unwrap().to_string();
    assert!(e.contains("0097_sat.png has no mask"), "{e}");
    std::fs::remove_file(dir.path().join("0097_sat.png")).unwrap();
    mask.save(dir.path().join("0107_mask.png")).unwrap();
    let e = SegmentFolder::open(dir.path()).err().unwrap().to_string();
    assert!(e.contains("0107_mask.png has no image"), "{e}");
}

#[test]
fn mismatched_and_corrupt_images_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    save_black(dir.path(), "0001_sat.png", 8, 8);
    save_black(dir.path(), "0001_mask.png", 8, 4);
    let e = SegmentFolder::open(dir.path())
        .unwrap()
        .get(0)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("is 4x8 but its image is 8x8"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    save_black(dir.path(), "0_1.png", 32, 32);
    save_black(dir.path(), "1_2.png", 16, 16);
    std::fs::write(dir.path().join("2_3.png"), b"\x89PNG truncated").unwrap();
    let data: Arc<dyn Dataset> = Arc::new(ClassifyFolder::open(dir.path()).unwrap());
    let e = Batches::new(Arc::clone(&data), 2, None, Augment::None)
        .next()
        .unwrap()
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("1_2.png is 16x16 but 0_1.png in the same batch is 32x32"),
        "{e}"
    );
    let e = data.get(2).err().unwrap().to_string();
    assert!(
        e.contains("cannot decode image") && e.contains("2_3.png"),
        "{e}"
    );
}

#[test]
fn loader_batches_shuffles_by_seed_and_flips() {
    let data: Arc<dyn Dataset> = Arc::new(SyntheticClassify {
        count: 10,
        classes: 3,
        seed: 5,
    });
    let ids = |seed| -> Vec<String> {
        Batches::new(Arc::clone(&data), 4, seed, Augment::None)
            .flat_map(|b| b.unwrap().ids)
            .collect()
    };
    let in_order = ids(None);
    assert_eq!(in_order.len(), 10);
    assert_eq!(in_order, (0..10).map(|i| data.id(i)).collect::<Vec<_>>());
    assert_eq!(ids(Some(1)), ids(Some(1)), "a seed fixes the order");
    assert_ne!(
        ids(Some(1)),
        ids(Some(2)),
        "another seed shuffles differently"
    );
    let sizes: Vec<usize> = Batches::new(Arc::clone(&data), 4, None, Augment::None)
        .map(|b| b.unwrap().shape[0])
        .collect();
    assert_eq!(sizes, [4, 4, 2]);

    let seg: Arc<dyn Dataset> = Arc::new(SyntheticSegment {
        count: 6,
        size: 32,
        seed: 3,
    });
    let plain: Vec<_> = Batches::new(Arc::clone(&seg), 6, Some(9), Augment::None)
        .map(|b| b.unwrap())
        .collect();
    let flipped: Vec<_> = Batches::new(Arc::clone(&seg), 6, Some(9), Augment::Flip)
        .map(|b| b.unwrap())
        .collect();
    let (p, f) = (&plain[0], &flipped[0]);
    assert_eq!(p.ids, f.ids, "flipping does not change the order");
    let mut flips = 0;
    for i in 0..6 {
        let row = |b: &wgnn::data::Batch, y: usize| {
            b.labels.as_ref().unwrap()[i * 1024 + y * 32..][..32].to_vec()
        };
        let mirrored = (0..32).all(|y| {
            let mut r = row(p, y);
            r.reverse();
            r == row(f, y)
        });
        let same = (0..32).all(|y| row(p, y) == row(f, y));
        assert!(
            mirrored || same,
            "tile {i} is neither flipped nor unchanged"
        );
        if !same {
            flips += 1;
            let px =
                |b: &wgnn::data::Batch, c: usize, x: usize| b.images[i * 3 * 1024 + c * 1024 + x];
            assert_eq!(px(p, 1, 0), px(f, 1, 31), "images flip with their masks");
        }
    }
    assert!(flips > 0 && flips < 6, "about half the tiles flip: {flips}");
}

#[test]
fn image_folder_ids_for_prediction() {
    let dir = tempfile::tempdir().unwrap();
    save_black(dir.path(), "0107_sat.jpg", 4, 4);
    save_black(dir.path(), "0107_mask.png", 4, 4);
    save_black(dir.path(), "holiday.png", 4, 4);
    let data = ImageFolder::open(dir.path()).unwrap();
    assert_eq!(
        (data.len(), data.id(0), data.id(1)),
        (2, "0107".to_owned(), "holiday.png".to_owned())
    );
}
