//! The one measure every check reports, apart from the checks so that both kinds import it.

/// ||a - b|| / ||a|| (0 when both vanish).
pub fn rel_err(reference: &[f64], value: &[f64]) -> f64 {
    let diff: f64 = reference
        .iter()
        .zip(value)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = reference.iter().map(|a| a * a).sum::<f64>().sqrt();
    if norm == 0.0 { diff } else { diff / norm }
}
