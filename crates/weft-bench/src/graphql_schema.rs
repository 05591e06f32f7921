//! `weft-bench graphql-schema`: the cost of generating the GraphQL schema for a catalog of N
//! classes (each with a text, int, number, boolean, date, text[] and geo property and a
//! reference to the previous class), and of handing out the cached schema to a request.
//! The schema is rebuilt only when the catalog's classes change, so the first cost is paid
//! once per schema change and the second once per request.

use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

#[derive(Debug, Args)]
pub struct GraphqlSchemaArgs {
    /// Classes in the catalog.
    #[arg(long, default_value_t = 1000)]
    classes: usize,
    /// Builds to time; the median is reported.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
}

pub fn run(args: &GraphqlSchemaArgs) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = weft_db::Db::open(weft_db::DbOptions::new(dir.path(), "bench"))?;
    for i in 0..args.classes {
        let mut properties = vec![
            json!({"name": "title", "dataType": ["text"]}),
            json!({"name": "count", "dataType": ["int"]}),
            json!({"name": "price", "dataType": ["number"]}),
            json!({"name": "flag", "dataType": ["boolean"]}),
            json!({"name": "when", "dataType": ["date"]}),
            json!({"name": "tags", "dataType": ["text[]"]}),
            json!({"name": "place", "dataType": ["geoCoordinates"]}),
        ];
        if i > 0 {
            properties.push(json!({"name": "prev", "dataType": [format!("Class{}", i - 1)]}));
        }
        let class = weft_api::schema::class_from_json(json!({
            "class": format!("Class{i}"), "vectorizer": "none", "properties": properties,
        }))?;
        db.create_class(class)?;
    }
    let classes = db.classes();
    let mut builds = Vec::new();
    let mut types = 0;
    for _ in 0..args.repeats.max(1) {
        let started = Instant::now();
        let schema = weft_graphql::schema::build(&classes)
            .context("no classes")?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        builds.push(started.elapsed().as_secs_f64());
        types = schema.sdl().matches("\ntype ").count() + schema.sdl().matches("\ninput ").count();
    }
    builds.sort_by(f64::total_cmp);
    let median = builds[builds.len() / 2];
    let engine = weft_graphql::Engine::new();
    engine
        .schema(&db)
        .context("no schema")?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let lookups = 100_000;
    let started = Instant::now();
    for _ in 0..lookups {
        std::hint::black_box(engine.schema(&db));
    }
    let per_lookup = started.elapsed().as_secs_f64() / f64::from(lookups);
    println!(
        "graphql-schema classes={} object+input types={types} build median={:.1} ms ({:.1} µs/class) cached lookup={:.0} ns",
        args.classes,
        median * 1e3,
        median * 1e6 / args.classes as f64,
        per_lookup * 1e9
    );
    db.close()?;
    Ok(())
}
