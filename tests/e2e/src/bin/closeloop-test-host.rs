//! The test host's command line (`up`, shaped like `spin up`) as a binary of this package, so
//! that the end-to-end tests can run the host as a child process and kill it mid-load
//! ([`closeloop_e2e::Runtime::HostProcess`]), as they kill `spin up`.

fn main() -> std::process::ExitCode {
    spin_test_host::cli::main()
}
