//! The tape. A `Graph` runs ops on `Var`s (a tensor plus an id); while recording, each op that has an
//! input needing a gradient pushes a node holding what its backward needs. `backward` walks the nodes
//! in reverse, hands each its output's gradient, and adds up the gradients of inputs that feed several
//! ops. An inference graph records nothing, so activations are freed as soon as their `Var`s drop.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::batch_norm::{self, BatchNormParams, BatchNormSaved, RunningStats};
use crate::ops::conv2d::{self, Conv2dArgs};
use crate::ops::pool::{self, MaxPoolArgs};
use crate::ops::{conv_transpose2d, elementwise, loss, matmul, reduce};
use crate::tensor::Tensor;

/// Identifies a `Var` within its graph.
pub type VarId = usize;

/// A value in a graph: its tensor, and whether a gradient flows to it.
#[derive(Clone, Debug)]
pub struct Var {
    pub id: VarId,
    pub value: Tensor,
    pub requires_grad: bool,
}

/// Given the output's gradient, the gradients of the inputs that need one (None for the others).
type BackwardFn<'g> = Box<dyn FnOnce(&Gpu, &Tensor) -> Result<Vec<Option<Tensor>>> + 'g>;

struct Node<'g> {
    output: VarId,
    /// Input ids, in the order the backward function returns their gradients.
    inputs: Vec<Option<VarId>>,
    backward: BackwardFn<'g>,
}

/// Gradients by variable, as `backward` leaves them.
pub struct Gradients(HashMap<VarId, Tensor>);

impl Gradients {
    /// Removes and returns the gradient of `var`, if one reached it.
    pub fn take(&mut self, id: VarId) -> Option<Tensor> {
        self.0.remove(&id)
    }
}

/// A tape of ops on one GPU.
pub struct Graph<'g> {
    gpu: &'g Gpu,
    recording: bool,
    /// The loss's own gradient, uploaded when the graph is made so backward needs no upload.
    one: Option<Tensor>,
    next_id: Cell<VarId>,
    nodes: RefCell<Vec<Node<'g>>>,
}

/// What `Graph::batch_norm2d` normalises with: the layer's affine parameters, its running
/// statistics, and its mode.
#[derive(Clone, Copy)]
pub struct BatchNormArgs<'a> {
    pub gamma: &'a Var,
    pub beta: &'a Var,
    pub running: RunningStats<'a>,
    /// Batch statistics (and running statistics updated) rather than the running statistics.
    pub training: bool,
    /// A ReLU after the layer, run in its passes (`BatchNormParams::relu`).
    pub relu: bool,
}

impl<'g> Graph<'g> {
    /// A graph that records what backward needs.
    pub fn training(gpu: &'g Gpu) -> Result<Graph<'g>> {
        Ok(Graph::new(gpu, Some(Tensor::from_f32(gpu, &[1], &[1.0])?)))
    }

    /// A graph that records nothing: no gradients, activations freed early.
    pub fn inference(gpu: &'g Gpu) -> Graph<'g> {
        Graph::new(gpu, None)
    }

    fn new(gpu: &'g Gpu, one: Option<Tensor>) -> Graph<'g> {
        Graph {
            gpu,
            recording: one.is_some(),
            one,
            next_id: Cell::new(0),
            nodes: RefCell::new(Vec::new()),
        }
    }

    pub fn gpu(&self) -> &'g Gpu {
        self.gpu
    }

    pub fn is_recording(&self) -> bool {
        self.recording
    }

    fn var(&self, value: Tensor, requires_grad: bool) -> Var {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        Var {
            id,
            value,
            requires_grad: requires_grad && self.recording,
        }
    }

    /// A leaf without gradient (an input batch).
    pub fn input(&self, value: Tensor) -> Var {
        self.var(value, false)
    }

    /// A leaf whose gradient `backward` computes (a parameter).
    pub fn leaf(&self, value: Tensor) -> Var {
        self.var(value, true)
    }

    /// Wraps an op's output; records `backward` if any input needs a gradient. `backward` receives the
    /// output gradient and which inputs need gradients, and returns one entry per input.
    fn record(
        &self,
        value: Tensor,
        inputs: &[&Var],
        backward: impl FnOnce(&Gpu, &Tensor, &[bool]) -> Result<Vec<Option<Tensor>>> + 'g,
    ) -> Var {
        let needs: Vec<bool> = inputs.iter().map(|v| v.requires_grad).collect();
        let out = self.var(value, needs.iter().any(|&n| n));
        if out.requires_grad {
            self.nodes.borrow_mut().push(Node {
                output: out.id,
                inputs: inputs
                    .iter()
                    .map(|v| v.requires_grad.then_some(v.id))
                    .collect(),
                backward: Box::new(move |gpu, dy| backward(gpu, dy, &needs)),
            });
        }
        out
    }

    /// Gradients of the scalar `loss` [1] with respect to every leaf that needs one. Consumes the
    /// tape, freeing the tensors it saved.
    pub fn backward(&self, loss: &Var) -> Result<Gradients> {
        crate::ensure_shape!(
            loss.value.shape() == [1],
            "backward needs a scalar loss [1], got {:?}",
            loss.value.shape()
        );
        let mut grads: HashMap<VarId, Tensor> = HashMap::new();
        let one = self
            .one
            .clone()
            .ok_or_else(|| crate::shape_err!("backward needs a graph made with Graph::training"))?;
        grads.insert(loss.id, one);
        let nodes = std::mem::take(&mut *self.nodes.borrow_mut());
        for node in nodes.into_iter().rev() {
            let Some(dy) = grads.remove(&node.output) else {
                continue;
            };
            let input_grads = (node.backward)(self.gpu, &dy)?;
            for (id, g) in node.inputs.iter().zip(input_grads) {
                if let (Some(id), Some(g)) = (id, g) {
                    let total = match grads.remove(id) {
                        Some(prev) => elementwise::add(self.gpu, &prev, &g)?,
                        None => g,
                    };
                    grads.insert(*id, total);
                }
            }
        }
        Ok(Gradients(grads))
    }

    pub fn conv2d(&self, x: &Var, w: &Var, b: Option<&Var>, args: Conv2dArgs) -> Result<Var> {
        let y = conv2d::conv2d(self.gpu, &x.value, &w.value, b.map(|b| &b.value), args)?;
        let (xv, wv) = (x.value.clone(), w.value.clone());
        let kernel = [wv.shape()[2], wv.shape()[3]];
        let mut inputs = vec![x, w];
        inputs.extend(b);
        Ok(self.record(y, &inputs, move |gpu, dy, needs| {
            let hw = [xv.shape()[2], xv.shape()[3]];
            weight_and_bias_grads(
                needs,
                || conv2d::conv2d_input_grad(gpu, dy, &wv, hw, args),
                || conv2d::conv2d_weight_grad(gpu, &xv, dy, kernel, args),
                || reduce::channel_sums(gpu, dy),
            )
        }))
    }

    pub fn conv_transpose2d(
        &self,
        x: &Var,
        w: &Var,
        b: Option<&Var>,
        args: Conv2dArgs,
    ) -> Result<Var> {
        let y = conv_transpose2d::conv_transpose2d(
            self.gpu,
            &x.value,
            &w.value,
            b.map(|b| &b.value),
            args,
        )?;
        let (xv, wv) = (x.value.clone(), w.value.clone());
        let kernel = [wv.shape()[2], wv.shape()[3]];
        let mut inputs = vec![x, w];
        inputs.extend(b);
        Ok(self.record(y, &inputs, move |gpu, dy, needs| {
            weight_and_bias_grads(
                needs,
                || conv_transpose2d::conv_transpose2d_input_grad(gpu, dy, &wv, args),
                || conv_transpose2d::conv_transpose2d_weight_grad(gpu, &xv, dy, kernel, args),
                || reduce::channel_sums(gpu, dy),
            )
        }))
    }

    /// batch_norm2d of `x` with `bn`'s affine parameters (then a ReLU, if `bn` fuses one); in
    /// training it normalises with batch statistics and updates the running statistics in place.
    pub fn batch_norm2d(&self, x: &Var, bn: &BatchNormArgs) -> Result<Var> {
        let BatchNormArgs {
            gamma,
            beta,
            running,
            training,
            relu,
        } = *bn;
        let p = BatchNormParams {
            gamma: &gamma.value,
            beta: &beta.value,
            running,
            relu,
        };
        let out = if training {
            batch_norm::batch_norm2d_train(self.gpu, &x.value, &p)?
        } else {
            batch_norm::batch_norm2d_eval(self.gpu, &x.value, &p)?
        };
        let (xv, gv, stats) = (x.value.clone(), gamma.value.clone(), out.stats);
        // Saved as a separate ReLU would save it: nothing more is kept than before the fusion.
        let relu_output = relu.then(|| out.y.clone());
        Ok(
            self.record(out.y, &[x, gamma, beta], move |gpu, dy, needs| {
                let saved = BatchNormSaved {
                    x: &xv,
                    gamma: &gv,
                    stats: &stats,
                    training,
                    relu_output: relu_output.as_ref(),
                };
                let g = batch_norm::batch_norm2d_backward(gpu, &saved, dy)?;
                Ok(vec![
                    needs[0].then_some(g.dx),
                    needs[1].then_some(g.dgamma),
                    needs[2].then_some(g.dbeta),
                ])
            }),
        )
    }

    pub fn relu(&self, x: &Var) -> Result<Var> {
        let y = elementwise::relu(self.gpu, &x.value)?;
        let saved = y.clone();
        Ok(self.record(y, &[x], move |gpu, dy, _| {
            Ok(vec![Some(elementwise::relu_backward(gpu, dy, &saved)?)])
        }))
    }

    pub fn max_pool2d(&self, x: &Var, args: MaxPoolArgs) -> Result<Var> {
        let out = pool::max_pool2d(self.gpu, &x.value, args)?;
        let (argmax, shape) = (out.argmax, x.value.shape().to_vec());
        Ok(self.record(out.y, &[x], move |gpu, dy, _| {
            Ok(vec![Some(pool::max_pool2d_backward(
                gpu, dy, &argmax, &shape, args,
            )?)])
        }))
    }

    pub fn adaptive_avg_pool2d(&self, x: &Var, out: [usize; 2]) -> Result<Var> {
        let y = pool::adaptive_avg_pool2d(self.gpu, &x.value, out)?;
        let shape = x.value.shape().to_vec();
        Ok(self.record(y, &[x], move |gpu, dy, _| {
            Ok(vec![Some(pool::adaptive_avg_pool2d_backward(
                gpu, dy, &shape,
            )?)])
        }))
    }

    pub fn linear(&self, x: &Var, w: &Var, b: Option<&Var>) -> Result<Var> {
        let y = matmul::linear(self.gpu, &x.value, &w.value, b.map(|b| &b.value))?;
        let (xv, wv) = (x.value.clone(), w.value.clone());
        let mut inputs = vec![x, w];
        inputs.extend(b);
        Ok(self.record(y, &inputs, move |gpu, dy, needs| {
            weight_and_bias_grads(
                needs,
                || matmul::linear_input_grad(gpu, dy, &wv),
                || matmul::linear_weight_grad(gpu, &xv, dy),
                || matmul::linear_bias_grad(gpu, dy),
            )
        }))
    }

    /// Dropout2d in training (identity in inference graphs is the caller's choice: see nn::Dropout2d).
    pub fn dropout2d(&self, x: &Var, p: f32, seed: u64) -> Result<Var> {
        let out = elementwise::dropout2d(self.gpu, &x.value, p, seed)?;
        let mask = out.mask;
        Ok(self.record(out.y, &[x], move |gpu, dy, _| {
            Ok(vec![Some(elementwise::dropout2d_apply(gpu, dy, &mask)?)])
        }))
    }

    pub fn add(&self, a: &Var, b: &Var) -> Result<Var> {
        let y = elementwise::add(self.gpu, &a.value, &b.value)?;
        Ok(self.record(y, &[a, b], |_, dy, needs| {
            Ok(vec![
                needs[0].then(|| dy.clone()),
                needs[1].then(|| dy.clone()),
            ])
        }))
    }

    pub fn reshape(&self, x: &Var, shape: &[usize]) -> Result<Var> {
        let y = x.value.reshape(shape)?;
        let original = x.value.shape().to_vec();
        Ok(self.record(y, &[x], move |_, dy, _| {
            Ok(vec![Some(dy.reshape(&original)?)])
        }))
    }

    /// Mean softmax cross-entropy of logits [N, C] or [N, C, H, W] against i32 targets; a scalar [1].
    pub fn cross_entropy(
        &self,
        logits: &Var,
        targets: &Tensor,
        ignore_index: Option<i32>,
    ) -> Result<Var> {
        let out = loss::cross_entropy(self.gpu, &logits.value, targets, ignore_index)?;
        let value = out.loss.clone();
        let (lv, tv) = (logits.value.clone(), targets.clone());
        Ok(self.record(value, &[logits], move |gpu, dloss, _| {
            Ok(vec![Some(loss::cross_entropy_backward(
                gpu,
                &lv,
                &tv,
                ignore_index,
                &out,
                dloss,
            )?)])
        }))
    }
}

/// Runs `f` only if its gradient is needed.
fn when(need: bool, f: impl FnOnce() -> Result<Tensor>) -> Result<Option<Tensor>> {
    need.then(f).transpose()
}

/// The gradients of an op of x, a weight and an optional bias (its third input, if any): dx, dw
/// and db, each computed only when its input needs it.
fn weight_and_bias_grads(
    needs: &[bool],
    dx: impl FnOnce() -> Result<Tensor>,
    dw: impl FnOnce() -> Result<Tensor>,
    db: impl FnOnce() -> Result<Tensor>,
) -> Result<Vec<Option<Tensor>>> {
    Ok(vec![
        when(needs[0], dx)?,
        when(needs[1], dw)?,
        when(needs.get(2) == Some(&true), db)?,
    ])
}
