// Predictions for the metrics.
//   argmax_channels: pred[n, s] = the class k maximising logits[n, k, s] (the first one on ties, as
//                    torch.argmax). Logits [n, c, s] with s = h*w (1 for classification).
//                    One invocation per position; grid = ceil(n*s / WG), folded.

override WG: u32 = 64;

struct Params {
    n: u32, c: u32, s: u32, logits_off: u32, pred_off: u32,
    _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> pred: array<i32>;

@compute @workgroup_size(WG)
fn argmax_channels(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_id) lid: vec3<u32>) {
    let p = workgroup_index(wid, nwg) * WG + lid.x;
    if (p >= params.n * params.s) { return; }
    let base = params.logits_off + (p / params.s) * params.c * params.s + p % params.s;
    var best = logits[base];
    var best_k = 0u;
    for (var k = 1u; k < params.c; k++) {
        let v = logits[base + k * params.s];
        if (v > best) {
            best = v;
            best_k = k;
        }
    }
    pred[params.pred_off + p] = i32(best_k);
}
