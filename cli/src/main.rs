mod target;
fn main() {}
