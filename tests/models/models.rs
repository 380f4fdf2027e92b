//! The models against PyTorch's own printouts and state_dicts, and their outputs' shapes.

use wgnn::Tensor;
use wgnn::autograd::Graph;
use wgnn::models::{Architecture, Model, UpsamplingInit};
use wgnn::nn::{Context, Entry, summary};

use crate::common::*;

fn model(arch: Architecture, classes: usize) -> Model {
    Model::new(gpu(), arch, classes, 1, UpsamplingInit::Default).unwrap()
}

/// (name, shape, dtype) of every state_dict entry, in visiting order.
fn state(m: &mut Model) -> Vec<(String, Vec<usize>, String)> {
    let mut out = Vec::new();
    m.visit(&mut |name, e| {
        let (shape, dtype) = match e {
            Entry::Param(p) => (p.value.shape().to_vec(), "float32"),
            Entry::Buffer(t) => (t.shape().to_vec(), "float32"),
            Entry::Count(_) => (vec![], "int64"),
        };
        out.push((name.to_owned(), shape, dtype.to_owned()));
    });
    out
}

fn check_against_pytorch(arch: Architecture, classes: usize, file: &str, input: &[usize]) {
    let mut m = model(arch, classes);
    let torch = printout(file);
    let ours = summary(&m.net.describe(), m.net.as_ref(), input).unwrap();
    let tree: Vec<String> = ours
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| l.split(" # ").next().unwrap().trim_end().to_owned())
        .collect();
    assert_eq!(tree, torch.tree, "{file}: module tree");
    assert_eq!(
        m.net.num_params(),
        torch.parameters,
        "{file}: parameter count"
    );
    let mut ours = state(&mut m);
    let mut theirs = torch.state;
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs, "{file}: state_dict names, shapes and dtypes");
}

#[test]
fn vgg16bn_matches_pytorch() {
    check_against_pytorch(
        Architecture::Vgg16bn,
        10,
        "vgg16bn_c10.txt",
        &[2, 3, 32, 32],
    );
}

#[test]
fn fcn32s_matches_pytorch() {
    check_against_pytorch(Architecture::Fcn32s, 7, "fcn32s.txt", &[1, 3, 512, 512]);
}

#[test]
fn fcn16s_matches_pytorch() {
    check_against_pytorch(Architecture::Fcn16s, 7, "fcn16s.txt", &[1, 3, 512, 512]);
}

#[test]
fn fcn8s_matches_pytorch() {
    check_against_pytorch(Architecture::Fcn8s, 7, "fcn8s.txt", &[1, 3, 512, 512]);
}

#[test]
fn summary_annotates_shapes_and_parameters() {
    let m = model(Architecture::Fcn16s, 7);
    let text = summary("FCN16s", m.net.as_ref(), &[2, 3, 64, 64]).unwrap();
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap()
            .to_owned()
    };
    assert!(line("(reduce_channel)").contains("[2, 7, 4, 4]"), "{text}");
    assert!(line("(up_sampling2)").contains("[2, 7, 4, 4]"), "{text}");
    assert!(line("(up_sampling32)").contains("[2, 7, 64, 64]"), "{text}");
    assert!(line("(up_sampling32)").contains("12551 params"), "{text}");
    assert!(text.ends_with("parameters: 33667104\n"), "{text}");
}

fn logits_shape(arch: Architecture, classes: usize, input: &[usize]) -> Vec<usize> {
    let gpu = gpu();
    let mut m = model(arch, classes);
    let g = Graph::inference(gpu);
    let x = g.input(Tensor::zeros(gpu, input));
    let ctx = Context::eval();
    let y = m.forward(&g, &x, &ctx).unwrap();
    y.value.to_f32(gpu).unwrap();
    y.value.shape().to_vec()
}

#[test]
fn models_produce_logits_of_the_right_shape() {
    assert_eq!(
        logits_shape(Architecture::Vgg16bn, 50, &[2, 3, 32, 32]),
        [2, 50]
    );
    assert_eq!(
        logits_shape(Architecture::Fcn32s, 7, &[1, 3, 64, 96]),
        [1, 7, 64, 96]
    );
    assert_eq!(
        logits_shape(Architecture::Fcn16s, 7, &[1, 3, 64, 64]),
        [1, 7, 64, 64]
    );
    assert_eq!(
        logits_shape(Architecture::Fcn8s, 7, &[1, 3, 32, 64]),
        [1, 7, 32, 64]
    );
}

#[test]
fn fcn_rejects_sizes_that_are_not_multiples_of_32() {
    let gpu = gpu();
    let mut m = model(Architecture::Fcn32s, 7);
    let g = Graph::inference(gpu);
    let x = g.input(Tensor::zeros(gpu, &[1, 3, 64, 80]));
    assert_error_names(
        m.forward(&g, &x, &Context::eval()),
        &["multiples of 32, got 64x80"],
    );
}

/// Batches and images too large for the device are refused before anything runs, naming the
/// layer, the size, the limit and what to change. Bars from lavapipe's limits (2 GiB buffers,
/// 128 MiB bindings): VGG16-bn's largest output at 32x32 is 256 KiB per image, so at most 8192
/// images; FCN32s' first output for a 1024x1024 tile is 64 x 1024^2 floats, 256 MiB.
#[test]
fn batches_and_images_beyond_the_device_limits_are_clear_errors() {
    let gpu = gpu();
    let limits = gpu.plan_limits();
    let per_image = 64 * 32 * 32 * 4;
    let too_many = (limits.max_buffer_bytes / per_image + 1) as usize;
    let mut vgg = model(Architecture::Vgg16bn, 10);
    let g = Graph::inference(gpu);
    let x = g.input(Tensor::zeros(gpu, &[too_many, 3, 32, 32]));
    let most = limits.max_buffer_bytes / per_image;
    assert_error_names(
        vgg.forward(&g, &x, &Context::eval()),
        &[
            &format!("a batch of {too_many} is too large"),
            &format!("[{too_many}, 64, 32, 32]"),
            &format!("use a batch size of at most {most}"),
        ],
    );
    drop(x);

    let mut fcn = model(Architecture::Fcn32s, 7);
    let x = g.input(Tensor::zeros(gpu, &[1, 3, 1024, 1024]));
    assert_error_names(
        fcn.forward(&g, &x, &Context::eval()),
        &[
            "1024x1024 images are too large",
            "output of vgg_backbone.0 ([64, 1024, 1024])",
            "256 MiB",
            "use smaller images",
        ],
    );
}

#[test]
fn architecture_is_read_from_tensor_names() {
    for (arch, file) in [
        (Architecture::Vgg16bn, "vgg16bn_c10.txt"),
        (Architecture::Fcn32s, "fcn32s.txt"),
        (Architecture::Fcn16s, "fcn16s.txt"),
        (Architecture::Fcn8s, "fcn8s.txt"),
    ] {
        let names = printout(file)
            .state
            .into_iter()
            .map(|s| s.0)
            .collect::<Vec<_>>();
        assert_eq!(
            Architecture::from_tensor_names(names.iter().map(String::as_str)),
            Some(arch)
        );
    }
}
