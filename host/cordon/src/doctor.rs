//! `cordon doctor`: what this host can run, and why not where it cannot. Each native tier
//! is probed for real (a sandbox is started), not guessed from files on disk.

use crate::Settings;
use anyhow::Result;
use cordon_core::Backend;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DoctorArgs {
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn doctor(settings: &Settings, args: DoctorArgs) -> Result<ExitCode> {
    let host = settings.one_shot_host()?;
    let mut tiers = serde_json::Map::new();
    for backend in [Backend::Wasm].into_iter().chain(Backend::NATIVE) {
        let (available, detail) = match host.native().availability(backend).await {
            Ok(what) => (true, what),
            Err(why) => (false, why),
        };
        if !args.json {
            let mark = if available { "ok " } else { "-- " };
            println!("{mark} {:<10} {detail}", backend.as_str());
        }
        tiers.insert(
            backend.as_str().into(),
            serde_json::json!({"available": available, "detail": detail}),
        );
    }
    if args.json {
        println!("{}", serde_json::json!({ "backends": tiers }));
    }
    Ok(ExitCode::SUCCESS)
}
