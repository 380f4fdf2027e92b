//! The `wgnn` command line: parses the arguments and runs the subcommand (`cli/`), printing any
//! error as one line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// `wgnn info | head` closes stdout early; like other command-line tools, wgnn then ends silently
/// instead of panicking in `println!` (Rust ignores SIGPIPE by default).
fn die_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of a signal before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Mesa's implicit Vulkan layer `VK_LAYER_MESA_device_select` only reorders devices, which wgnn does
/// itself (`--adapter`), and without `XDG_RUNTIME_DIR` (servers, CI) it prints two wayland errors
/// before every command. It is switched off unless the user configured it.
fn quiet_mesa_device_select() {
    const MESA_VARS: [&str; 2] = ["NODEVICE_SELECT", "MESA_VK_DEVICE_SELECT"];
    if MESA_VARS.iter().all(|v| std::env::var_os(v).is_none()) {
        // SAFETY: called first thing in `main`, before any thread exists.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}

fn main() -> ExitCode {
    quiet_mesa_device_select();
    die_quietly_on_closed_pipe();
    let parsed = cli::Cli::try_parse().unwrap_or_else(|e| cli::exit_on_bad_command_line(e));
    match parsed.run() {
        Ok(code) => code,
        Err(e) => {
            // One line, even when the message quotes a library's (an image decoder's, wgpu's)
            // that spans several.
            let message = e.to_string();
            let lines: Vec<&str> = message
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("error: {}", lines.join(" "));
            ExitCode::FAILURE
        }
    }
}
