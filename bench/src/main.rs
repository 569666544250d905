fn main() -> std::process::ExitCode {
    mfa_bench::main()
}
