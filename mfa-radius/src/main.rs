//! `mfa-radius`: see the library.
#![forbid(unsafe_code)]
#![warn(clippy::too_many_lines)]

fn main() -> std::process::ExitCode {
    mfa_radius::main()
}
