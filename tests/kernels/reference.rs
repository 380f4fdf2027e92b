//! Plain f64 CPU references for every kernel, written for clarity rather than speed, and
//! independently of the WGSL: backward passes here scatter (each input adds to the outputs it feeds)
//! where the kernels gather. Index loops mirror the formulas, so clippy's iterator advice is off.
#![allow(clippy::needless_range_loop)]

/// Index of (a, b, c, d) in a row-major [_, b_len, c_len, d_len] array.
pub fn idx4(dims: [usize; 4], a: usize, b: usize, c: usize, d: usize) -> usize {
    ((a * dims[1] + b) * dims[2] + c) * dims[3] + d
}

/// Every index [i_0, .., i_(N-1)] with each i_k < dims[k], in row-major order (the last fastest).
pub fn grid<const N: usize>(dims: [usize; N]) -> impl Iterator<Item = [usize; N]> {
    (0..dims.iter().product()).map(move |mut flat: usize| {
        let mut index = [0; N];
        for k in (0..N).rev() {
            index[k] = flat % dims[k];
            flat /= dims[k];
        }
        index
    })
}

/// Geometry of a 2-D convolution or pooling window.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Window {
    pub fn out_len(&self, axis: usize, input: usize) -> usize {
        (input + 2 * self.padding[axis] - self.kernel[axis]) / self.stride[axis] + 1
    }

    /// The input coordinate tap `k` of output `o` reads along `axis`, if inside the input.
    pub fn tap(&self, axis: usize, o: usize, k: usize, input: usize) -> Option<usize> {
        let pos = (o * self.stride[axis] + k) as isize - self.padding[axis] as isize;
        (pos >= 0 && (pos as usize) < input).then_some(pos as usize)
    }
}

pub struct Conv {
    pub x: Vec<f64>,
    pub x_dims: [usize; 4],
    pub w: Vec<f64>,
    /// [c_out, c_in, kh, kw]
    pub w_dims: [usize; 4],
    pub b: Option<Vec<f64>>,
    pub win: Window,
}

/// A convolution's reference, run forward and backward from its taps: the (x index, w index,
/// y index) of each multiply-add y += x * w, visited in the order the reference makes them.
pub trait Convolution {
    /// x, the weight and the bias.
    fn operands(&self) -> (&[f64], &[f64], Option<&[f64]>);
    fn y_dims(&self) -> [usize; 4];
    fn each_tap(&self, f: &mut dyn FnMut(usize, usize, usize));

    /// y: the bias of each output channel plus x * w over the taps.
    fn forward(&self) -> Vec<f64> {
        let (x, w, bias) = self.operands();
        let yd = self.y_dims();
        let plane = yd[2] * yd[3];
        let mut y: Vec<f64> = (0..yd.iter().product())
            .map(|i| bias.map_or(0.0, |bias| bias[i / plane % yd[1]]))
            .collect();
        self.each_tap(&mut |xi, wi, yi| y[yi] += x[xi] * w[wi]);
        y
    }

    /// (dx, dw, db) for upstream gradient dy.
    fn backward(&self, dy: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (x, w, _) = self.operands();
        let mut dx = vec![0.0; x.len()];
        let mut dw = vec![0.0; w.len()];
        self.each_tap(&mut |xi, wi, yi| {
            let g = dy[yi];
            dx[xi] += g * w[wi];
            dw[wi] += g * x[xi];
        });
        let yd = self.y_dims();
        let db = (0..yd[1])
            .map(|c| channel(dy, yd, c).iter().sum())
            .collect();
        (dx, dw, db)
    }
}

impl Convolution for Conv {
    fn operands(&self) -> (&[f64], &[f64], Option<&[f64]>) {
        (&self.x, &self.w, self.b.as_deref())
    }

    fn y_dims(&self) -> [usize; 4] {
        let [n, _, h, w] = self.x_dims;
        [
            n,
            self.w_dims[0],
            self.win.out_len(0, h),
            self.win.out_len(1, w),
        ]
    }

    /// Output by output. The taps of an output are loops, not a `grid`: its divisions per tap made
    /// this reference most of the kernel tests' time (the Winograd cases in chunks: 50 s a binary).
    fn each_tap(&self, f: &mut dyn FnMut(usize, usize, usize)) {
        let [n, c_in, h, w] = self.x_dims;
        let yd = self.y_dims();
        let [c_out, _, kh, kw] = self.w_dims;
        for [b, co, oy, ox] in grid([n, c_out, yd[2], yd[3]]) {
            let yi = idx4(yd, b, co, oy, ox);
            for ci in 0..c_in {
                for ky in 0..kh {
                    let Some(iy) = self.win.tap(0, oy, ky, h) else {
                        continue;
                    };
                    for kx in 0..kw {
                        if let Some(ix) = self.win.tap(1, ox, kx, w) {
                            f(
                                idx4(self.x_dims, b, ci, iy, ix),
                                idx4(self.w_dims, co, ci, ky, kx),
                                yi,
                            );
                        }
                    }
                }
            }
        }
    }
}

pub struct ConvTranspose {
    pub x: Vec<f64>,
    pub x_dims: [usize; 4],
    pub w: Vec<f64>,
    /// [c_in, c_out, kh, kw]
    pub w_dims: [usize; 4],
    pub b: Option<Vec<f64>>,
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl ConvTranspose {
    /// Output position tap (ky, kx) of input (iy, ix) lands on, if inside the output.
    fn land(&self, iy: usize, ix: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let yd = self.y_dims();
        let oy = (iy * self.stride[0] + ky) as isize - self.padding[0] as isize;
        let ox = (ix * self.stride[1] + kx) as isize - self.padding[1] as isize;
        (oy >= 0 && ox >= 0 && (oy as usize) < yd[2] && (ox as usize) < yd[3])
            .then_some((oy as usize, ox as usize))
    }
}

impl Convolution for ConvTranspose {
    fn operands(&self) -> (&[f64], &[f64], Option<&[f64]>) {
        (&self.x, &self.w, self.b.as_deref())
    }

    fn y_dims(&self) -> [usize; 4] {
        let [n, _, h, w] = self.x_dims;
        let [_, c_out, kh, kw] = self.w_dims;
        [
            n,
            c_out,
            (h - 1) * self.stride[0] + kh - 2 * self.padding[0],
            (w - 1) * self.stride[1] + kw - 2 * self.padding[1],
        ]
    }

    /// Scatter: input by input, each input element adding x * w to the outputs its taps land on
    /// (the taps of an input are loops, as in `Conv`).
    fn each_tap(&self, f: &mut dyn FnMut(usize, usize, usize)) {
        let [n, c_in, h, w] = self.x_dims;
        let yd = self.y_dims();
        let [_, c_out, kh, kw] = self.w_dims;
        for [b, ci, iy, ix] in grid([n, c_in, h, w]) {
            let xi = idx4(self.x_dims, b, ci, iy, ix);
            for co in 0..c_out {
                for ky in 0..kh {
                    for kx in 0..kw {
                        if let Some((oy, ox)) = self.land(iy, ix, ky, kx) {
                            f(xi, idx4(self.w_dims, ci, co, ky, kx), idx4(yd, b, co, oy, ox));
                        }
                    }
                }
            }
        }
    }
}

/// Per-channel values of an NCHW array, in batch then spatial order.
fn channel(x: &[f64], dims: [usize; 4], c: usize) -> Vec<f64> {
    let [n, _, h, w] = dims;
    (0..n)
        .flat_map(|b| (0..h * w).map(move |i| (b, i)))
        .map(|(b, i)| x[idx4(dims, b, c, i / w, i % w)])
        .collect()
}

pub struct BatchNorm {
    pub x: Vec<f64>,
    pub dims: [usize; 4],
    pub gamma: Vec<f64>,
    pub beta: Vec<f64>,
    pub running_mean: Vec<f64>,
    pub running_var: Vec<f64>,
    pub training: bool,
    pub momentum: f64,
    pub eps: f64,
}

impl BatchNorm {
    /// (mean, biased variance) per channel: the batch's in training, the running ones in evaluation.
    fn stats(&self) -> Vec<(f64, f64)> {
        (0..self.dims[1])
            .map(|c| {
                if !self.training {
                    return (self.running_mean[c], self.running_var[c]);
                }
                let v = channel(&self.x, self.dims, c);
                let mean = v.iter().sum::<f64>() / v.len() as f64;
                let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / v.len() as f64;
                (mean, var)
            })
            .collect()
    }

    pub fn forward(&self) -> Vec<f64> {
        let stats = self.stats();
        let [n, c_len, h, w] = self.dims;
        let mut y = vec![0.0; self.x.len()];
        for b in 0..n {
            for c in 0..c_len {
                let (mean, var) = stats[c];
                for i in 0..h * w {
                    let k = idx4(self.dims, b, c, i / w, i % w);
                    y[k] =
                        (self.x[k] - mean) / (var + self.eps).sqrt() * self.gamma[c] + self.beta[c];
                }
            }
        }
        y
    }

    /// Running statistics after this forward (unchanged in evaluation).
    pub fn updated_running(&self) -> (Vec<f64>, Vec<f64>) {
        if !self.training {
            return (self.running_mean.clone(), self.running_var.clone());
        }
        let count = (self.dims[0] * self.dims[2] * self.dims[3]) as f64;
        let m = self.momentum;
        self.stats()
            .iter()
            .enumerate()
            .map(|(c, &(mean, var))| {
                (
                    (1.0 - m) * self.running_mean[c] + m * mean,
                    (1.0 - m) * self.running_var[c] + m * var * count / (count - 1.0),
                )
            })
            .unzip()
    }

    /// (dx, dgamma, dbeta). Training differentiates through the batch statistics.
    pub fn backward(&self, dy: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let stats = self.stats();
        let [n, c_len, h, w] = self.dims;
        let m = (n * h * w) as f64;
        let mut dx = vec![0.0; self.x.len()];
        let mut dgamma = vec![0.0; c_len];
        let mut dbeta = vec![0.0; c_len];
        for c in 0..c_len {
            let (mean, var) = stats[c];
            let invstd = 1.0 / (var + self.eps).sqrt();
            let xs = channel(&self.x, self.dims, c);
            let gs = channel(dy, self.dims, c);
            let xhat: Vec<f64> = xs.iter().map(|x| (x - mean) * invstd).collect();
            dbeta[c] = gs.iter().sum();
            dgamma[c] = gs.iter().zip(&xhat).map(|(g, xh)| g * xh).sum();
            for b in 0..n {
                for i in 0..h * w {
                    let k = idx4(self.dims, b, c, i / w, i % w);
                    let j = b * h * w + i;
                    dx[k] = if self.training {
                        self.gamma[c] * invstd * (gs[j] - dbeta[c] / m - xhat[j] * dgamma[c] / m)
                    } else {
                        self.gamma[c] * invstd * gs[j]
                    };
                }
            }
        }
        (dx, dgamma, dbeta)
    }

    /// forward, then a ReLU (max(y, 0)).
    pub fn forward_relu(&self) -> Vec<f64> {
        self.forward().iter().map(|v| v.max(0.0)).collect()
    }

    /// backward of forward_relu: dy passes where the ReLU's output is > 0 (threshold_backward).
    pub fn backward_relu(&self, dy: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let masked: Vec<f64> = dy
            .iter()
            .zip(self.forward_relu())
            .map(|(&g, y)| if y > 0.0 { g } else { 0.0 })
            .collect();
        self.backward(&masked)
    }
}

/// PyTorch max_pool2d: (y, argmax as iy * w + ix). The first maximum in row-major window order wins.
pub fn max_pool(x: &[f64], dims: [usize; 4], win: Window) -> (Vec<f64>, Vec<i32>, [usize; 4]) {
    let [n, c, h, w] = dims;
    let yd = [n, c, win.out_len(0, h), win.out_len(1, w)];
    let mut y = vec![0.0; yd.iter().product()];
    let mut arg = vec![0; y.len()];
    for b in 0..n {
        for ch in 0..c {
            for oy in 0..yd[2] {
                for ox in 0..yd[3] {
                    let mut best: Option<(f64, usize)> = None;
                    for ky in 0..win.kernel[0] {
                        for kx in 0..win.kernel[1] {
                            if let (Some(iy), Some(ix)) =
                                (win.tap(0, oy, ky, h), win.tap(1, ox, kx, w))
                            {
                                let v = x[idx4(dims, b, ch, iy, ix)];
                                if best.is_none_or(|(bv, _)| v > bv) {
                                    best = Some((v, iy * w + ix));
                                }
                            }
                        }
                    }
                    let (v, i) = best.expect("every window holds an input element");
                    let o = idx4(yd, b, ch, oy, ox);
                    y[o] = v;
                    arg[o] = i as i32;
                }
            }
        }
    }
    (y, arg, yd)
}

/// dx of max_pool: each output's gradient added to its argmax.
pub fn max_pool_backward(
    dy: &[f64],
    arg: &[i32],
    dims: [usize; 4],
    y_dims: [usize; 4],
) -> Vec<f64> {
    let [_, _, h, w] = dims;
    let plane_out = y_dims[2] * y_dims[3];
    let mut dx = vec![0.0; dims.iter().product()];
    for (o, (&g, &a)) in dy.iter().zip(arg).enumerate() {
        dx[(o / plane_out) * h * w + a as usize] += g;
    }
    dx
}

/// PyTorch's adaptive bins along one axis: [floor(i*in/out), ceil((i+1)*in/out)).
fn bin(i: usize, input: usize, out: usize) -> std::ops::Range<usize> {
    (i * input / out)..((i + 1) * input).div_ceil(out)
}

/// The outputs of adaptive average pooling of an input of `dims` to `out`, in order: each one's
/// index and the input indices it averages.
fn adaptive_bins(dims: [usize; 4], out: [usize; 2]) -> impl Iterator<Item = (usize, Vec<usize>)> {
    let [n, c, h, w] = dims;
    let yd = [n, c, out[0], out[1]];
    grid(yd).map(move |[b, ch, oy, ox]| {
        let (rows, cols) = (bin(oy, h, out[0]), bin(ox, w, out[1]));
        let inputs = rows
            .flat_map(|iy| cols.clone().map(move |ix| idx4(dims, b, ch, iy, ix)))
            .collect();
        (idx4(yd, b, ch, oy, ox), inputs)
    })
}

pub fn adaptive_avg_pool(x: &[f64], dims: [usize; 4], out: [usize; 2]) -> Vec<f64> {
    adaptive_bins(dims, out)
        .map(|(_, inputs)| inputs.iter().map(|&i| x[i]).sum::<f64>() / inputs.len() as f64)
        .collect()
}

pub fn adaptive_avg_pool_backward(dy: &[f64], dims: [usize; 4], out: [usize; 2]) -> Vec<f64> {
    let mut dx = vec![0.0; dims.iter().product()];
    for (o, inputs) in adaptive_bins(dims, out) {
        let share = dy[o] / inputs.len() as f64;
        for i in inputs {
            dx[i] += share;
        }
    }
    dx
}

/// y [m, n] = x [m, k] w^T + b, w [n, k].
pub fn linear(x: &[f64], w: &[f64], b: Option<&[f64]>, [m, k, n]: [usize; 3]) -> Vec<f64> {
    let mut y = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            y[i * n + j] =
                b.map_or(0.0, |b| b[j]) + (0..k).map(|t| x[i * k + t] * w[j * k + t]).sum::<f64>();
        }
    }
    y
}

/// (dx, dw, db) of linear.
pub fn linear_backward(
    x: &[f64],
    w: &[f64],
    dy: &[f64],
    [m, k, n]: [usize; 3],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut dx = vec![0.0; m * k];
    let mut dw = vec![0.0; n * k];
    let mut db = vec![0.0; n];
    for i in 0..m {
        for j in 0..n {
            let g = dy[i * n + j];
            db[j] += g;
            for t in 0..k {
                dx[i * k + t] += g * w[j * k + t];
                dw[j * k + t] += g * x[i * k + t];
            }
        }
    }
    (dx, dw, db)
}

/// Mean softmax cross-entropy over logits [n, c, s] (s positions per item) and targets [n, s];
/// targets equal to `ignore` are left out of the sum and the count. Returns (loss, dlogits).
pub fn cross_entropy(
    logits: &[f64],
    targets: &[i32],
    [n, c, s]: [usize; 3],
    ignore: Option<i32>,
) -> (f64, Vec<f64>) {
    let at = |b: usize, k: usize, p: usize| (b * c + k) * s + p;
    let mut total = 0.0;
    let mut count = 0usize;
    let mut probs = vec![0.0; logits.len()];
    for b in 0..n {
        for p in 0..s {
            let t = targets[b * s + p];
            if Some(t) == ignore {
                continue;
            }
            let z: Vec<f64> = (0..c).map(|k| logits[at(b, k, p)]).collect();
            let hi = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = hi + z.iter().map(|v| (v - hi).exp()).sum::<f64>().ln();
            total += lse - z[t as usize];
            count += 1;
            for k in 0..c {
                probs[at(b, k, p)] = (z[k] - lse).exp() - if k == t as usize { 1.0 } else { 0.0 };
            }
        }
    }
    let grad = probs.iter().map(|g| g / count as f64).collect();
    (total / count as f64, grad)
}

/// Sum over n, y, x of x[n, c, y, x], per channel c.
pub fn channel_sums(x: &[f64], [n, c, h, w]: [usize; 4]) -> Vec<f64> {
    let mut sums = vec![0.0; c];
    for b in 0..n {
        for (ch, sum) in sums.iter_mut().enumerate() {
            *sum += x[idx4([n, c, h, w], b, ch, 0, 0)..][..h * w]
                .iter()
                .sum::<f64>();
        }
    }
    sums
}
