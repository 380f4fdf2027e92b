//! The commands that draw pictures, run on the GPU as a user would run them.

use std::path::Path;
use std::sync::Arc;

use image::RgbImage;
use wgnn::data::{Dataset, LAND_COVER, Subset, SyntheticSegment, mask_class};
use wgnn::draw;
use wgnn::models::{Architecture, Model, UpsamplingInit};
use wgnn::pictures::snapshots::{SnapshotSettings, Snapshots};
use wgnn::train::{
    EpochRecord, Observer, StepEvent, TrainOptions, read_metrics_csv, train_observed,
};
use wgnn::{Gpu, GpuOptions};

use super::{count_colour, keep};

/// (epoch, training loss) of each record, as the snapshot montage labels its rows.
fn losses(records: &[EpochRecord]) -> Vec<(usize, f64)> {
    records.iter().map(|r| (r.epoch, r.train_loss)).collect()
}

/// Mask snapshots subscribed to the run as `wgnn train --snapshot` subscribes them, and a step
/// watcher.
struct WithSnapshots<F> {
    snapshots: Snapshots,
    on_step: F,
}

impl<F: FnMut(StepEvent) -> wgnn::Result<()>> Observer for WithSnapshots<F> {
    fn after_step(&mut self, event: StepEvent) -> wgnn::Result<()> {
        (self.on_step)(event)
    }

    fn after_epoch(
        &mut self,
        gpu: &Gpu,
        model: &mut Model,
        records: &[EpochRecord],
    ) -> wgnn::Result<()> {
        self.snapshots.after_epoch(gpu, model, &losses(records))
    }
}

use super::cli_support::{Scratch, ok, predict_args, train_and_val, wgnn};
use super::train_support::adam_without_decay;

fn gpu() -> Gpu {
    Gpu::new(&GpuOptions::default()).unwrap_or_else(|e| {
        panic!("GPU tests need an adapter: {e}\n(on Linux without a GPU: apt-get install mesa-vulkan-drivers)")
    })
}

/// The one `error: ...` line of a failing command.
fn fails(args: &[&str]) -> String {
    let out = wgnn(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "wgnn {args:?} succeeded");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

fn png(path: &Path) -> RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

/// curves.png is there from the end of the first epoch on and redrawn after every epoch; mask
/// snapshots are taken after the first, every N-th and the last epoch.
#[test]
fn curves_and_snapshots_are_drawn_after_every_epoch() {
    let gpu = gpu();
    let dir = tempfile::tempdir().unwrap();
    let tiles = |count, seed| -> Arc<dyn Dataset> {
        Arc::new(SyntheticSegment {
            count,
            size: 32,
            seed,
        })
    };
    let o = TrainOptions {
        val: Some(tiles(3, 2)),
        epochs: 4,
        batch_size: 4,
        optimizer: adam_without_decay(1e-3),
        upsampling_init: UpsamplingInit::Bilinear,
        precise_bn: 4,
        ..TrainOptions::new(Architecture::Fcn32s, tiles(4, 1), 7, dir.path().to_owned())
    };
    let ids: Vec<String> = vec!["0000".into(), "0002".into()];
    let curves = dir.path().join("curves.png");
    let mut seen: Vec<Option<Vec<u8>>> = Vec::new();
    let watch = |e: StepEvent| {
        // The step of epoch e runs after epoch e - 1's files were written.
        seen.push(std::fs::read(&curves).ok());
        assert_eq!(seen.len(), e.epoch);
        Ok(())
    };
    let snapshots = Snapshots::new(SnapshotSettings {
        val: o.val.clone().unwrap(),
        ids: &ids,
        source: "val",
        out: o.out.clone(),
        every: 3,
        epochs: o.epochs,
        batch_size: o.batch_size,
        model_name: "fcn32s",
    })
    .unwrap();
    let records = train_observed(
        &gpu,
        &o,
        &mut WithSnapshots {
            snapshots,
            on_step: watch,
        },
    )
    .unwrap();
    assert!(seen[0].is_none(), "curves.png before the first epoch ended");
    for e in 1..4 {
        let bytes = seen[e]
            .as_ref()
            .unwrap_or_else(|| panic!("no curves.png after epoch {e}"));
        assert_eq!(
            image::load_from_memory(bytes)
                .unwrap()
                .to_rgb8()
                .dimensions(),
            (960, 340)
        );
        if e > 1 {
            assert_ne!(
                seen[e - 1],
                seen[e],
                "curves.png not redrawn after epoch {e}"
            );
        }
    }
    assert_eq!(png(&curves).dimensions(), (960, 340));

    let snapshots = dir.path().join("snapshots");
    let mut names: Vec<String> = std::fs::read_dir(&snapshots)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let expected: Vec<String> = [1, 3, 4]
        .iter()
        .flat_map(|e| ["0000", "0002"].map(|id| format!("epoch-{e:04}_{id}.png")))
        .collect();
    assert_eq!(names, expected);
    let palette: Vec<[u8; 3]> = LAND_COVER.iter().map(|c| c.1).collect();
    for name in &names {
        let mask = png(&snapshots.join(name));
        assert_eq!(mask.dimensions(), (32, 32));
        assert!(
            mask.pixels().all(|p| palette.contains(&p.0)),
            "{name} has off-code colours"
        );
    }
    // The montage: satellite and ground truth rows, then epochs 1, 3 and 4; a column per tile.
    let chosen = Subset::by_ids(o.val.clone().unwrap(), &ids, "val").unwrap();
    let montage = wgnn::pictures::snapshots::snapshot_montage(
        &chosen,
        &snapshots,
        &losses(&records),
        "fcn32s",
    )
    .unwrap();
    let labels: Vec<&str> = montage
        .rows
        .iter()
        .map(|r| r.0.lines().next().unwrap())
        .collect();
    assert_eq!(
        labels,
        ["satellite", "ground truth", "epoch 1", "epoch 3", "epoch 4"]
    );
    assert_eq!(
        montage.rows[4].0,
        format!("epoch 4\nloss {:.4}", records[3].train_loss)
    );
    let layout = montage.layout();
    let drawn = png(&dir.path().join("snapshots.png"));
    keep("snapshots_run.png", &drawn);
    assert_eq!(drawn.dimensions(), (layout.width, layout.height));
    let scale = layout.cell.0 / 32;
    for (row, file_epoch) in [(2, 1), (3, 3), (4, 4)] {
        for (column, id) in ["0000", "0002"].iter().enumerate() {
            let mask = png(&snapshots.join(format!("epoch-{file_epoch:04}_{id}.png")));
            let (x0, y0) = layout.cells[row][column];
            for (x, y) in [(0, 0), (17, 9), (31, 31)] {
                let drawn_pixel = drawn.get_pixel(x0 + x * scale + 1, y0 + y * scale + 1).0;
                assert_eq!(
                    drawn_pixel,
                    mask.get_pixel(x, y).0,
                    "epoch {file_epoch}, tile {id}"
                );
            }
        }
    }
}

/// From the command line: a resumed run's montage still has every epoch; `predict --overlay`,
/// `compare` and `plot` draw from the run's weights and metrics.
#[test]
fn segmentation_pictures_from_the_command_line() {
    let s = train_and_val("segment", 4, 3);
    let train = |epochs: &str, place: [&str; 2]| {
        ok(&[
            "train",
            "segment",
            "--data",
            &s.arg("train"),
            "--val",
            &s.arg("val"),
            "--epochs",
            epochs,
            "--batch-size",
            "4",
            "--lr",
            "1e-3",
            "--snapshot",
            "0000,0002",
            place[0],
            place[1],
        ])
    };
    train("1", ["--out", &s.arg("run")]);
    assert_eq!(png(&s.path("run/curves.png")).dimensions(), (960, 340));
    let log = train("2", ["--resume", &s.arg("run")]);
    assert!(log.contains("curves.png"), "{log}");
    let records = read_metrics_csv(&s.path("run/metrics.csv")).unwrap();
    assert_eq!(records.len(), 2);
    let val: Arc<dyn Dataset> = Arc::new(wgnn::data::SegmentFolder::open(&s.path("val")).unwrap());
    let chosen = Subset::by_ids(val, &["0000".into(), "0002".into()], "val").unwrap();
    let montage = wgnn::pictures::snapshots::snapshot_montage(
        &chosen,
        &s.path("run/snapshots"),
        &losses(&records),
        "fcn32s",
    )
    .unwrap();
    assert_eq!(
        montage.rows.len(),
        4,
        "satellite, ground truth, epochs 1 and 2"
    );
    let drawn = png(&s.path("run/snapshots.png"));
    keep("snapshots_resumed.png", &drawn);
    let layout = montage.layout();
    assert_eq!(drawn.dimensions(), (layout.width, layout.height));

    // --overlay: {id}_overlay.png beside each mask, the blend of mask and tile, with the legend.
    ok(&predict_args(
        "segment",
        &s.arg("run/last.safetensors"),
        &s.arg("val"),
        &s.arg("masks"),
        &["--overlay"],
    ));
    for id in ["0000", "0001", "0002"] {
        let overlay = png(&s.path(&format!("masks/{id}_overlay.png")));
        let mask = png(&s.path(&format!("masks/{id}_mask.png")));
        let tile = png(&s.path(&format!("val/{id}_sat.png")));
        assert_eq!(overlay.width(), 256);
        assert_eq!(
            overlay.height(),
            256 + draw::land_cover_legend(256).height()
        );
        assert_eq!(
            overlay,
            draw::overlay_with_legend(&tile, &mask),
            "{id}_overlay.png is not the mask blended over the tile"
        );
        if id == "0000" {
            keep("overlay_run.png", &overlay);
        }
    }

    // compare: three columns of predictions (the run's best and last FCN32s, an untrained FCN8s),
    // each model's mIoU on the chosen tiles by the homework's formula (classes in neither labels
    // nor predictions left out), as the masks predict wrote.
    let gpu = gpu();
    let mut fcn8s = Model::new(&gpu, Architecture::Fcn8s, 7, 1, UpsamplingInit::Bilinear).unwrap();
    wgnn::checkpoint::save(&gpu, &mut fcn8s, &s.path("fcn8s.safetensors")).unwrap();
    let weights = ["run/best", "run/last", "fcn8s"].map(|w| s.arg(&format!("{w}.safetensors")));
    let (val, picture) = (s.arg("val"), s.arg("compare.png"));
    let mut args = vec!["compare"];
    for w in &weights {
        args.extend(["--weights", w.as_str()]);
    }
    args.extend(["--data", &val, "--ids", "0002,0000", "--out", &picture]);
    let out = ok(&args);
    let mut iou = wgnn::ops::metrics::IouCounts::new(7);
    for id in ["0002", "0000"] {
        let classes = |file: String| -> Vec<i32> {
            png(&s.path(&file))
                .pixels()
                .map(|px| mask_class(px.0))
                .collect()
        };
        iou.add(
            &classes(format!("masks/{id}_mask.png")),
            &classes(format!("val/{id}_mask.png")),
        );
    }
    let last_line = out
        .lines()
        .find(|l| l.starts_with("fcn32s / last"))
        .unwrap_or_else(|| panic!("{out}"));
    let expected = format!(
        "mIoU {:.4} on tiles 0002,0000",
        wgnn::pictures::mean_iou_of_present_classes(&iou)
    );
    assert!(last_line.ends_with(&expected), "{last_line} vs {expected}");
    assert!(out.contains("fcn8s / fcn8s "), "{out}");
    let compare = png(&s.path("compare.png"));
    keep("compare_run.png", &compare);
    // Rows of 192-pixel cells for two tiles; columns: image, ground truth, three models.
    assert!(
        compare.width() > 5 * 192 && compare.height() > 2 * 192,
        "{:?}",
        compare.dimensions()
    );

    ok(&[
        "plot",
        &s.arg("run/metrics.csv"),
        "--out",
        &s.arg("replot.png"),
    ]);
    assert_eq!(png(&s.path("replot.png")).dimensions(), (960, 340));
}

/// `wgnn embed` on VGG16-bn weights: the scatter plot and one CSV row per image.
#[test]
fn embed_writes_a_plot_and_the_points() {
    let gpu = gpu();
    let s = Scratch::new();
    let mut model = Model::new(&gpu, Architecture::Vgg16bn, 3, 1, UpsamplingInit::Default).unwrap();
    wgnn::checkpoint::save(&gpu, &mut model, &s.path("vgg.safetensors")).unwrap();
    ok(&[
        "synth",
        "classify",
        "--out",
        &s.arg("val"),
        "--count",
        "15",
        "--classes",
        "3",
    ]);
    let (weights, val) = (s.arg("vgg.safetensors"), s.arg("val"));
    let embed = ["embed", "--weights", &weights, "--data", &val];
    let flags = [
        "--out",
        &s.arg("embed.png"),
        "--layer",
        "classifier-input",
        "--seed",
        "3",
    ];
    ok(&[&embed[..], &flags].concat());
    let csv = std::fs::read_to_string(s.arg("embed.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "image_id,label,x,y");
    assert_eq!(rows.len(), 16, "{csv}");
    for row in &rows[1..] {
        let f: Vec<&str> = row.split(',').collect();
        assert_eq!(f.len(), 4, "{row}");
        assert_eq!(
            f[0].split('_').next(),
            Some(f[1]),
            "{row}: the label is the file's"
        );
        assert!(
            f[2].parse::<f32>().unwrap().is_finite() && f[3].parse::<f32>().unwrap().is_finite()
        );
    }
    let plot = png(&s.path("embed.png"));
    keep("embed_run.png", &plot);
    assert_eq!(plot.height(), 720);
    for class in 0..3 {
        assert!(
            count_colour(&plot, draw::class_colour(class), 0..720) > 10,
            "class {class}"
        );
    }
    let e = fails(&[&embed[..], &["--out", &s.arg("e.png"), "--perplexity", "5"]].concat());
    assert!(
        e.contains("--perplexity 5") && e.contains("at most 4"),
        "{e}"
    );
    let e = fails(&["compare", "--weights", &weights, "--out", &s.arg("c.png")]);
    assert!(e.contains("vgg16bn is a classification model"), "{e}");
}

/// Misuse is one line naming what is wrong, before anything runs.
#[test]
fn picture_flags_fail_in_one_line() {
    let s = Scratch::new();
    let e = fails(&predict_args(
        "classify",
        "x",
        "y",
        &s.arg("a.csv"),
        &["--overlay"],
    ));
    assert!(e.contains("--overlay"), "{e}");
    let snapshot =
        |task: &str, ids: &str| fails(&["train", task, "--snapshot", ids, "--out", &s.arg("run")]);
    let e = snapshot("classify", "0001");
    assert!(e.contains("--snapshot"), "{e}");
    let e = snapshot("segment", "0042");
    assert!(e.contains("no tile 0042"), "{e}");
    assert!(!s.path("run").exists(), "a refused run made its folder");
    let e = fails(&["plot", &s.arg("missing.csv"), "--out", &s.arg("c.png")]);
    assert!(e.contains("missing.csv"), "{e}");
    let e = fails(&[
        "compare",
        "--weights",
        "x.safetensors",
        "--out",
        &s.arg("no/such/c.png"),
    ]);
    assert!(e.contains("not an existing folder"), "{e}");
}
