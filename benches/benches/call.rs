//! Instantiate + call of a trivial component through Cordon, against a bare wasmtime loop.
//!
//! `make bench` runs this; BENCHMARKS.md records the results. Groups:
//! - `call/cold`: a fresh executor with no cache: compile, link, instantiate, call.
//! - `call/disk-cache`: a fresh executor whose on-disk precompile cache is warm.
//! - `call/warm`: an already loaded component: Cordon's per-call path (grants → WASI
//!   context, limiter, fuel, deadline, JSON in and out, receipt).
//! - `call/floor`: bare wasmtime on the same engine settings: new Store + WasiCtx,
//!   `InstancePre` instantiate (pooling), typed call, drop. The target is warm ≤ 1.5× floor.
//! - `json/*`: JSON ↔ component value conversion alone.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use cordon_benches::fixture;
use cordon_core::{Grants, Limits};
use cordon_wasm::{EngineConfig, Executor, values};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use std::time::Duration;
use wasmtime::Store;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn calls(c: &mut Criterion) {
    let rt = runtime();
    let path = fixture("trivial");
    let args = json!({"a": 2, "b": 40});
    let (grants, limits) = (Grants::default(), Limits::default());

    let mut g = c.benchmark_group("call");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("cold", |b| {
        b.iter(|| {
            let ex = Executor::new(&EngineConfig::default(), None).unwrap();
            let comp = ex.load_file(&path).unwrap();
            rt.block_on(ex.call(&comp, Some("add"), &args, &grants, &limits))
                .unwrap()
        })
    });
    let cache = tempfile::tempdir().unwrap();
    Executor::new(&EngineConfig::default(), Some(cache.path()))
        .unwrap()
        .load_file(&path)
        .unwrap();
    g.bench_function("disk-cache", |b| {
        b.iter(|| {
            let ex = Executor::new(&EngineConfig::default(), Some(cache.path())).unwrap();
            let comp = ex.load_file(&path).unwrap();
            rt.block_on(ex.call(&comp, Some("add"), &args, &grants, &limits))
                .unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("call");
    g.measurement_time(Duration::from_secs(5));
    let ex = Executor::new(&EngineConfig::default(), None).unwrap();
    let comp = ex.load_file(&path).unwrap();
    g.bench_function("warm", |b| {
        b.iter(|| {
            rt.block_on(ex.call(&comp, Some("add"), black_box(&args), &grants, &limits))
                .unwrap()
        })
    });

    // The floor: what wasmtime itself needs for the same call.
    struct Bare {
        ctx: WasiCtx,
        table: ResourceTable,
    }
    impl WasiView for Bare {
        fn ctx(&mut self) -> WasiCtxView<'_> {
            WasiCtxView {
                ctx: &mut self.ctx,
                table: &mut self.table,
            }
        }
    }
    let engine = EngineConfig::default().build().unwrap();
    let mut linker: Linker<Bare> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    let component = Component::from_file(&engine, &path).unwrap();
    let pre = linker.instantiate_pre(&component).unwrap();
    let add_idx = component.get_export_index(None, "add").unwrap();
    g.bench_function("floor", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut store = Store::new(
                    &engine,
                    Bare {
                        ctx: WasiCtx::builder().build(),
                        table: ResourceTable::new(),
                    },
                );
                store.set_fuel(u64::MAX).unwrap();
                store.set_epoch_deadline(u64::MAX);
                let instance = pre.instantiate_async(&mut store).await.unwrap();
                let add = instance
                    .get_typed_func::<(i32, i32), (i32,)>(&mut store, &add_idx)
                    .unwrap();
                add.call_async(&mut store, (2, 40)).await.unwrap()
            })
        })
    });
    g.finish();
}

fn json(c: &mut Criterion) {
    let ex = Executor::new(&EngineConfig::default(), None).unwrap();
    let comp = ex.load_file(&fixture("types")).unwrap();
    let nested = comp.function(Some("nested")).unwrap();
    let ty = &nested.params[0].1;
    let input = json!([[{"x": 1, "y": 2}, {"x": 3, "y": 4}], [{"x": 5, "y": 6}]]);
    let val = values::from_json(ty, &input, "l").unwrap();
    let mut g = c.benchmark_group("json");
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("to-val/list-of-records", |b| {
        b.iter(|| values::from_json(ty, black_box(&input), "l").unwrap())
    });
    g.bench_function("from-val/list-of-records", |b| {
        b.iter(|| values::to_json(black_box(&val)))
    });
    g.finish();
}

criterion_group!(benches, calls, json);
criterion_main!(benches);
