//! The GPU shared by these tests, the PyTorch fixtures, and errors that must name their cause.

use std::sync::OnceLock;

use wgnn::{Gpu, GpuOptions};

pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        Gpu::new(&GpuOptions::default()).unwrap_or_else(|e| {
            panic!("GPU tests need an adapter: {e}\n(on Linux without a GPU: apt-get install mesa-vulkan-drivers)")
        })
    })
}

/// Asserts that `result` is an error whose message holds every one of `words`.
#[track_caller]
pub fn assert_error_names<T>(result: wgnn::Result<T>, words: &[&str]) {
    let Err(e) = result else {
        panic!("succeeded where an error naming {words:?} was due")
    };
    let message = e.to_string();
    for word in words {
        assert!(message.contains(word), "no {word:?} in: {message}");
    }
}

/// A PyTorch printout from `tests/fixtures/pytorch` (copied from the homework spec): the module
/// tree, then `name [shape] dtype` lines of the state_dict.
pub struct Printout {
    pub tree: Vec<String>,
    pub parameters: usize,
    pub state: Vec<(String, Vec<usize>, String)>,
}

pub fn printout(file: &str) -> Printout {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pytorch")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let (tree, rest) = text.split_once("\n\n").unwrap();
    let mut parameters = 0;
    let mut state = Vec::new();
    for line in rest.lines() {
        if let Some(n) = line.strip_prefix("parameters: ") {
            parameters = n.parse().unwrap();
        } else if let Some((name, rest)) = line.split_once(' ')
            && let Some((shape, dtype)) = rest.rsplit_once("] ")
        {
            let dims = shape.trim_start_matches('[');
            let dims = dims
                .split(", ")
                .filter(|d| !d.is_empty())
                .map(|d| d.parse().unwrap())
                .collect();
            state.push((name.to_owned(), dims, dtype.to_owned()));
        }
    }
    Printout {
        tree: tree.lines().map(str::to_owned).collect(),
        parameters,
        state,
    }
}
