//! The pictures wgnn draws. First without a GPU: text, masks and their legend, overlays, montages,
//! curves and scatter plots; then the commands that draw them, run as a user would.
//!
//! `WGNN_PICTURES_DIR=DIR` keeps every picture these tests draw in DIR, to look at.

use image::{Rgb, RgbImage};
use wgnn::data::{LAND_COVER, mask_class};
use wgnn::draw::{self, Canvas, Montage};
use wgnn::train::{EpochRecord, read_metrics_csv, training_curves};

fn keep(name: &str, img: &RgbImage) {
    if let Some(dir) = std::env::var_os("WGNN_PICTURES_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        img.save(std::path::Path::new(&dir).join(name)).unwrap();
    }
}

fn is_dark(p: &Rgb<u8>) -> bool {
    p.0.iter().all(|&c| c < 128)
}

/// Text is drawn inside its measured box, nothing of it cut and nothing outside.
#[test]
fn text_stays_inside_its_measured_box() {
    let size = 20.0;
    let label = "Agriculture 0.6973 (gjpqy)";
    let (w, h) = (draw::text_width(size, label), draw::line_height(size));
    let mut canvas = Canvas::new(w.ceil() as u32 + 20, h.ceil() as u32 + 20, [255; 3]);
    canvas.text(10.0, 10.0, size, [0; 3], label);
    keep("text.png", &canvas.image);
    let mut dark = 0;
    for (x, y, p) in canvas.image.enumerate_pixels() {
        if p.0 != [255; 3] {
            assert!(
                (10.0..=10.0 + w + 1.0).contains(&(x as f32))
                    && (10.0..=10.0 + h + 1.0).contains(&(y as f32)),
                "ink at ({x}, {y}) outside the {w}x{h} box at (10, 10)"
            );
        }
        dark += usize::from(is_dark(p));
    }
    assert!(dark > 200, "the text left only {dark} dark pixels");
    assert!(draw::text_width(size, "mIoU 0.69") > draw::text_width(size, "mIoU"));
}

/// Every class is drawn in its colour from the code, which reads back as the class; classes
/// outside 0..6 are "unknown".
#[test]
fn masks_are_drawn_in_the_land_cover_code() {
    let classes: Vec<i32> = (0..9).map(|i| i - 1).collect();
    let rgb = draw::mask_to_rgb(&classes, [3, 3]);
    assert_eq!(rgb.dimensions(), (3, 3));
    for (i, &class) in classes.iter().enumerate() {
        let p = rgb.get_pixel(i as u32 % 3, i as u32 / 3).0;
        let expected = if (0..7).contains(&class) { class } else { 6 };
        assert_eq!(p, LAND_COVER[expected as usize].1, "class {class}");
        assert_eq!(mask_class(p), expected);
    }
}

/// Finds a `side` x `side` block of `colour` whose left neighbour is the grey of a swatch outline.
fn has_swatch(img: &RgbImage, colour: [u8; 3], side: u32) -> bool {
    (0..img.height().saturating_sub(side)).any(|y| {
        (1..img.width().saturating_sub(side)).any(|x| {
            img.get_pixel(x - 1, y + side / 2).0 == [128; 3]
                && (0..side).all(|dy| (0..side).all(|dx| img.get_pixel(x + dx, y + dy).0 == colour))
        })
    })
}

/// The legend shows a swatch of each of the seven mask colours, with its name in dark text.
#[test]
fn the_legend_has_a_swatch_of_every_mask_colour() {
    for width in [64, 256, 900] {
        let legend = draw::land_cover_legend(width);
        keep(&format!("legend_{width}.png"), &legend);
        assert!(legend.width() >= width);
        let side = draw::line_height(14.0).round() as u32;
        for (name, colour) in LAND_COVER {
            assert!(
                has_swatch(&legend, colour, side),
                "no {name} swatch at width {width}"
            );
        }
        // Names in dark text beside the swatches (the black swatch aside).
        assert!(legend.pixels().filter(|p| is_dark(p)).count() > (side * side) as usize + 7 * 40);
    }
}

/// An overlay is round((1 - a) * image + a * mask) per channel; `--overlay`'s picture enlarges a
/// small tile by a whole factor and puts the legend under it.
#[test]
fn overlays_blend_mask_over_image() {
    let image = RgbImage::from_pixel(4, 2, Rgb([100, 200, 50]));
    let mask = RgbImage::from_pixel(4, 2, Rgb(LAND_COVER[0].1));
    let blended = draw::overlay(&image, &mask, 0.5);
    assert_eq!(blended.get_pixel(3, 1).0, [50, 228, 153]);
    assert_eq!(
        draw::overlay(&image, &mask, 0.25).get_pixel(0, 0).0,
        [75, 214, 101]
    );

    let tile = RgbImage::from_fn(64, 64, |x, y| Rgb([(x * 4) as u8, (y * 4) as u8, 90]));
    let classes: Vec<i32> = (0..64 * 64).map(|i| (i % 64) / 10).collect();
    let mask = draw::mask_to_rgb(&classes, [64, 64]);
    let picture = draw::overlay_with_legend(&tile, &mask);
    keep("overlay.png", &picture);
    // 64 pixels enlarged 4 times to 256; the legend below.
    assert_eq!(picture.width(), 256);
    assert_eq!(
        picture.height(),
        256 + draw::land_cover_legend(256).height()
    );
    let a = draw::OVERLAY_ALPHA;
    for (x, y) in [(0, 0), (37, 5), (63, 63)] {
        let expected: [u8; 3] = std::array::from_fn(|c| {
            ((1.0 - a) * f32::from(tile.get_pixel(x, y)[c])
                + a * f32::from(mask.get_pixel(x, y)[c]))
            .round() as u8
        });
        for (dx, dy) in [(0, 0), (3, 3)] {
            assert_eq!(
                picture.get_pixel(4 * x + dx, 4 * y + dy).0,
                expected,
                "pixel ({x}, {y})"
            );
        }
    }
}

/// A montage puts every picture at its place, at one scale, labels on the left and on top.
#[test]
fn montages_lay_out_labelled_rows_and_columns() {
    let colour = |r: usize, c: usize| [40 * r as u8 + 10, 60 * c as u8 + 20, 200];
    let montage = |size: u32| Montage {
        title: Some("a title".into()),
        column_labels: (0..3).map(|c| format!("tile 00{c}\nmIoU 0.{c}")).collect(),
        rows: (0..4)
            .map(|r| {
                let cells = (0..3)
                    .map(|c| RgbImage::from_pixel(size, size, Rgb(colour(r, c))))
                    .collect();
                (format!("epoch {r}\nloss 0.{r}"), cells)
            })
            .collect(),
        legend: true,
    };
    for (size, cell) in [(64, 192), (200, 200), (512, 256)] {
        let m = montage(size);
        let layout = m.layout();
        let img = m.render();
        keep(&format!("montage_{size}.png"), &img);
        assert_eq!(img.dimensions(), (layout.width, layout.height));
        assert_eq!(layout.cell, (cell, cell), "tiles of {size}");
        assert_eq!(layout.cells.len(), 4);
        for (r, row) in layout.cells.iter().enumerate() {
            assert_eq!(row.len(), 3);
            for (c, &(x, y)) in row.iter().enumerate() {
                for (dx, dy) in [(0, 0), (cell - 1, cell - 1), (cell / 2, cell / 3)] {
                    assert_eq!(
                        img.get_pixel(x + dx, y + dy).0,
                        colour(r, c),
                        "cell {r},{c}"
                    );
                }
                if c > 0 {
                    assert!(x >= row[c - 1].0 + cell, "columns overlap");
                }
                if r > 0 {
                    assert!(y >= layout.cells[r - 1][c].1 + cell, "rows overlap");
                }
            }
            // The row label is dark text left of the first picture, level with it.
            let (x0, y0) = row[0];
            let ink = (y0..y0 + cell)
                .flat_map(|y| (0..x0).map(move |x| (x, y)))
                .filter(|&(x, y)| is_dark(img.get_pixel(x, y)))
                .count();
            assert!(ink > 50, "row {r} has no label");
        }
        // Column labels above the first row.
        let (x0, y0) = layout.cells[0][0];
        let ink = (0..y0)
            .flat_map(|y| (x0..x0 + cell).map(move |x| (x, y)))
            .filter(|&(x, y)| is_dark(img.get_pixel(x, y)))
            .count();
        assert!(ink > 50, "no column label");
        let legend_top = layout.legend_top.expect("a legend");
        assert!(legend_top >= layout.cells[3][0].1 + cell);
        let side = draw::line_height(14.0).round() as u32;
        let legend =
            image::imageops::crop_imm(&img, 0, legend_top, img.width(), img.height() - legend_top)
                .to_image();
        for (name, colour) in LAND_COVER {
            assert!(
                has_swatch(&legend, colour, side),
                "no {name} in the montage's legend"
            );
        }
    }
}

fn records(metric: impl Fn(usize) -> f64) -> Vec<EpochRecord> {
    (1..=6)
        .map(|epoch| EpochRecord {
            epoch,
            train_loss: 1.0 / epoch as f64,
            val_metric: metric(epoch),
            seconds: 1.0,
        })
        .collect()
}

fn count_colour(img: &RgbImage, colour: [u8; 3], x_range: std::ops::Range<u32>) -> usize {
    img.enumerate_pixels()
        .filter(|(x, _, p)| x_range.contains(x) && p.0 == colour)
        .count()
}

/// Curves: the loss in blue on the left panel, the metric in red on the right; a run without
/// validation data draws no metric line.
#[test]
fn training_curves_show_loss_and_metric() {
    let (blue, red) = ([31, 119, 180], [214, 39, 40]);
    let img = training_curves(&records(|e| 0.5 + 0.05 * e as f64), "mIoU");
    keep("curves.png", &img);
    assert_eq!(img.dimensions(), (960, 340));
    assert!(count_colour(&img, blue, 0..480) > 300);
    assert_eq!(count_colour(&img, blue, 480..960), 0);
    assert!(count_colour(&img, red, 480..960) > 300);
    let no_val = training_curves(&records(|_| f64::NAN), "accuracy");
    keep("curves_no_val.png", &no_val);
    assert_eq!(count_colour(&no_val, red, 0..960), 0);
    // One epoch is a dot.
    let one = training_curves(&records(|_| 0.9)[..1], "accuracy");
    keep("curves_one_epoch.png", &one);
    assert!(count_colour(&one, blue, 0..480) > 20);
    assert!(count_colour(&one, red, 480..960) > 20);
}

#[test]
fn metrics_csv_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.csv");
    std::fs::write(
        &path,
        "epoch,train_loss,val_metric,seconds\n1,0.8,NaN,2.5\n2,0.5,0.75,2.0\n",
    )
    .unwrap();
    let r = read_metrics_csv(&path).unwrap();
    assert_eq!(r.len(), 2);
    assert!(r[0].val_metric.is_nan());
    assert_eq!(
        (r[1].epoch, r[1].train_loss, r[1].val_metric),
        (2, 0.5, 0.75)
    );
    std::fs::write(&path, "a,b\n").unwrap();
    let e = read_metrics_csv(&path).unwrap_err().to_string();
    assert!(e.contains("not a metrics.csv"), "{e}");
    std::fs::write(&path, "epoch,train_loss,val_metric,seconds\n1,x,0,0\n").unwrap();
    let e = read_metrics_csv(&path).unwrap_err().to_string();
    assert!(e.contains("row 2"), "{e}");
}

/// Each class's points are drawn in its colour, and the legend has one entry per class; the
/// homework's 50 classes get 50 different colours and a legend in two columns.
#[test]
fn scatter_plots_colour_points_by_class() {
    let classes = 50;
    let names: Vec<String> = (0..classes).map(|i| format!("class {i}")).collect();
    let mut points = Vec::new();
    let mut labels = Vec::new();
    for class in 0..classes {
        for k in 0..20 {
            let angle = class as f32 * std::f32::consts::TAU / classes as f32;
            let radius = 10.0 + (class % 3) as f32;
            points.push([radius * angle.cos() + 0.02 * k as f32, radius * angle.sin()]);
            labels.push(class);
        }
    }
    let img = draw::scatter_plot(&points, &labels, &names, "t-SNE");
    keep("scatter.png", &img);
    assert_eq!(img.height(), 720);
    assert!(img.width() > 720);
    let colours: Vec<[u8; 3]> = (0..classes).map(draw::class_colour).collect();
    for (i, c) in colours.iter().enumerate() {
        assert!(!colours[..i].contains(c), "class {i} shares a colour");
        // Points inside the plot, a swatch in the legend beside it.
        assert!(
            count_colour(&img, *c, 0..720) > 10,
            "class {i} has no points"
        );
        assert!(
            count_colour(&img, *c, 720..img.width()) > 50,
            "class {i} has no swatch"
        );
    }
}

/// t-SNE keeps well-separated clusters apart: in 2-D, the nearest neighbour of at least 90 % of
/// the points has the point's label. Ten clusters of 100 points in 64 dimensions, centres 20 apart
/// per axis on random axes, spread 1.
#[test]
fn tsne_keeps_separated_clusters_apart() {
    use rand::{Rng, SeedableRng};
    let (classes, per_class, dim) = (10, 100, 64);
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let centres: Vec<Vec<f32>> = (0..classes)
        .map(|_| (0..dim).map(|_| rng.random_range(-10.0..10.0)).collect())
        .collect();
    let mut values = Vec::new();
    let mut labels = Vec::new();
    for (label, centre) in centres.iter().enumerate() {
        for _ in 0..per_class {
            values.extend(centre.iter().map(|c| c + rng.random_range(-1.0..1.0)));
            labels.push(label);
        }
    }
    let start = std::time::Instant::now();
    let points = wgnn::pictures::embed::tsne(&values, dim, 30.0, 1).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(points.len(), classes * per_class);
    let nearest_shares_label = (0..points.len())
        .filter(|&i| {
            let d = |j: usize| (points[i][0] - points[j][0]).hypot(points[i][1] - points[j][1]);
            let nearest = (0..points.len())
                .filter(|&j| j != i)
                .min_by(|&a, &b| d(a).total_cmp(&d(b)))
                .unwrap();
            labels[nearest] == labels[i]
        })
        .count();
    let share = nearest_shares_label as f64 / points.len() as f64;
    let names: Vec<String> = (0..classes).map(|c| format!("class {c}")).collect();
    keep(
        "tsne_clusters.png",
        &draw::scatter_plot(&points, &labels, &names, "t-SNE of 10 clusters"),
    );
    assert!(
        share >= 0.9,
        "only {:.1} % of nearest neighbours share a label",
        100.0 * share
    );
    assert!(seconds < 60.0, "1000 points took {seconds:.1} s");
    // Clusters keep their shape rather than collapsing to dots (as with too low a learning rate).
    let extent = points
        .iter()
        .fold(0f32, |m, p| m.max(p[0].abs()).max(p[1].abs()));
    for cluster in points.chunks(per_class) {
        let n = cluster.len() as f32;
        let (mx, my) = cluster
            .iter()
            .fold((0.0, 0.0), |(x, y), p| (x + p[0] / n, y + p[1] / n));
        let spread = cluster
            .iter()
            .map(|p| (p[0] - mx).hypot(p[1] - my))
            .sum::<f32>()
            / n;
        assert!(
            spread > 0.02 * extent,
            "a cluster collapsed: spread {spread}, extent {extent}"
        );
    }
    // Too few points for the perplexity is an error, not t-SNE's panic.
    let e = wgnn::pictures::embed::tsne(&values[..10 * dim], dim, 30.0, 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--perplexity 30") && e.contains("at most 3"),
        "{e}"
    );
}

// The commands, on the GPU.

use std::path::Path;
use std::sync::Arc;

use wgnn::data::{Dataset, Subset, SyntheticSegment};
use wgnn::models::{Architecture, Model, UpsamplingInit};
use wgnn::pictures::snapshots::{SnapshotSettings, Snapshots};
use wgnn::train::{Observer, StepEvent, TrainOptions, train_observed};
use wgnn::{Gpu, GpuOptions};

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

#[allow(dead_code)] // each test binary uses its own part
#[path = "support/cli.rs"]
mod cli_support;
#[path = "support/train.rs"]
mod train_support;
use cli_support::{Scratch, ok, predict_args, train_and_val, wgnn};
use train_support::adam_without_decay;

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
