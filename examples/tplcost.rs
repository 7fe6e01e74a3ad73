//! throwaway
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut tera = tera::Tera::new();
    for f in ["json", "members", "b64", "toml"] {
        tera.register_filter(
            f,
            |v: &tera::Value, _: tera::Kwargs, _: &tera::State| -> tera::TeraResult<tera::Value> {
                Ok(v.clone())
            },
        );
    }
    let ok = tera.add_raw_template("x", &text);
    eprintln!("{:?}", ok.err());
}
