//! Pictures drawn without a GPU: text, masks and their legend, overlays, montages, curves and
//! scatter plots.

use image::{Rgb, RgbImage};
use wgnn::data::{LAND_COVER, mask_class};
use wgnn::draw::{self, Canvas, Montage};
use wgnn::train::{EpochRecord, read_metrics_csv, training_curves};

use super::{count_colour, keep};

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
