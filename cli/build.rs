//! `custody demo` builds the source tree's `samples/` folder into the binary (include_dir, which
//! on stable Rust does not tell cargo which files it read): rebuild when any sample changes.

fn main() {
    println!("cargo:rerun-if-changed=../samples");
}
