//! Devices and streams. An array has no device: each op runs on a stream, and any stream
//! reads any array.
//!
//! ```
//! use ferrox::device::{self, Device};
//! let s = device::new_stream(Device::cpu())?;
//! let y = device::with_stream(s, || ferrox::ops::ones(&[2], None))??;  // runs on `s`
//! assert_eq!(y.to_vec::<f32>()?, vec![1.0, 1.0]);
//! assert!(device::new_stream(Device::gpu()).is_err() || device::is_available(Device::gpu()));
//! # Ok::<(), ferrox::Error>(())
//! ```

use crate::{Error, Result};
use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceType {
    Cpu,
    Gpu,
}

/// A device: its type and index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Device {
    pub kind: DeviceType,
    pub index: usize,
}

impl Device {
    pub const fn cpu() -> Device {
        Device {
            kind: DeviceType::Cpu,
            index: 0,
        }
    }
    pub const fn gpu() -> Device {
        Device {
            kind: DeviceType::Gpu,
            index: 0,
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = match self.kind {
            DeviceType::Cpu => "cpu",
            DeviceType::Gpu => "gpu",
        };
        write!(f, "Device({t}, {})", self.index)
    }
}

/// Whether ops can run on devices of this type in this build and on this machine.
pub fn is_available(device: Device) -> bool {
    device_count(device.kind) > device.index
}

/// The number of devices of a type. No GPU backend is built in yet, so 0 GPUs.
pub fn device_count(kind: DeviceType) -> usize {
    match kind {
        DeviceType::Cpu => 1,
        DeviceType::Gpu => 0,
    }
}

fn check_available(device: Device) -> Result<()> {
    if is_available(device) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "[Device] {device} is not available: this build of ferrox has no GPU backend \
             or the machine has no GPU."
        )))
    }
}

/// A queue of work on one device. Ops record the stream they run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stream {
    pub index: usize,
    pub device: Device,
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stream({}, {})", self.device, self.index)
    }
}

static NEXT_STREAM: AtomicUsize = AtomicUsize::new(1);
static DEFAULT_DEVICE: Mutex<Device> = Mutex::new(Device::cpu());
static DEFAULT_STREAMS: Mutex<Vec<(Device, Stream)>> = Mutex::new(Vec::new());

thread_local! {
    /// A stream set by a `with mx.stream(...)` style scope on this thread.
    static SCOPED: Cell<Option<Stream>> = const { Cell::new(None) };
}

pub fn default_device() -> Device {
    *DEFAULT_DEVICE.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn set_default_device(device: Device) -> Result<()> {
    check_available(device)?;
    *DEFAULT_DEVICE.lock().unwrap_or_else(|e| e.into_inner()) = device;
    Ok(())
}

/// The default stream of a device (stream 0 for the CPU).
pub fn default_stream(device: Device) -> Result<Stream> {
    check_available(device)?;
    let mut streams = DEFAULT_STREAMS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, s)) = streams.iter().find(|(d, _)| *d == device) {
        return Ok(*s);
    }
    let index = if device == Device::cpu() {
        0
    } else {
        NEXT_STREAM.fetch_add(1, Ordering::Relaxed)
    };
    let s = Stream { index, device };
    streams.push((device, s));
    Ok(s)
}

pub fn set_default_stream(stream: Stream) -> Result<()> {
    check_available(stream.device)?;
    let mut streams = DEFAULT_STREAMS.lock().unwrap_or_else(|e| e.into_inner());
    streams.retain(|(d, _)| *d != stream.device);
    streams.push((stream.device, stream));
    Ok(())
}

/// A new stream on a device.
pub fn new_stream(device: Device) -> Result<Stream> {
    check_available(device)?;
    Ok(Stream {
        index: NEXT_STREAM.fetch_add(1, Ordering::Relaxed),
        device,
    })
}

/// The stream an op runs on when none is named: a scoped one, else the default device's.
pub fn current_stream() -> Stream {
    if let Some(s) = SCOPED.with(|c| c.get()) {
        return s;
    }
    default_stream(default_device()).unwrap_or(Stream {
        index: 0,
        device: Device::cpu(),
    })
}

/// What an op's `stream=` argument may be.
#[derive(Clone, Copy, Debug, Default)]
pub enum StreamOrDevice {
    #[default]
    Default,
    Stream(Stream),
    Device(Device),
}

impl StreamOrDevice {
    /// The stream an op runs on, or an error if its device is not available.
    pub fn resolve(self) -> Result<Stream> {
        match self {
            StreamOrDevice::Default => Ok(current_stream()),
            StreamOrDevice::Stream(s) => {
                check_available(s.device)?;
                Ok(s)
            }
            StreamOrDevice::Device(d) => default_stream(d),
        }
    }
}

impl From<Stream> for StreamOrDevice {
    fn from(s: Stream) -> Self {
        StreamOrDevice::Stream(s)
    }
}
impl From<Device> for StreamOrDevice {
    fn from(d: Device) -> Self {
        StreamOrDevice::Device(d)
    }
}

/// Makes `stream` this thread's default until [`exit_stream_scope`] is called with the
/// returned value: the non-closure form of [`with_stream`], for `with` blocks of bindings.
pub fn enter_stream_scope(stream: Stream) -> Result<Option<Stream>> {
    check_available(stream.device)?;
    Ok(SCOPED.with(|c| c.replace(Some(stream))))
}

/// Ends a scope opened by [`enter_stream_scope`], restoring the stream it replaced.
pub fn exit_stream_scope(previous: Option<Stream>) {
    SCOPED.with(|c| c.set(previous));
}

/// Forgets every default stream set by [`set_default_stream`] (devices get fresh ones).
pub fn clear_streams() {
    DEFAULT_STREAMS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
}

/// What is known about a device, as `(key, value)` pairs: `architecture` and
/// `device_name` for the CPU.
pub fn device_info(device: Device) -> Result<Vec<(&'static str, String)>> {
    check_available(device)?;
    let name = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "cpu".to_string());
    Ok(vec![
        ("architecture", std::env::consts::ARCH.to_string()),
        ("device_name", name),
    ])
}

/// Runs `f` with `stream` as this thread's default (`with mx.stream(s):`).
pub fn with_stream<R>(stream: Stream, f: impl FnOnce() -> R) -> Result<R> {
    check_available(stream.device)?;
    let prev = SCOPED.with(|c| c.replace(Some(stream)));
    struct Restore(Option<Stream>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPED.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(prev);
    Ok(f())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_is_a_clear_error_without_one() {
        let e = new_stream(Device::gpu()).unwrap_err();
        assert!(e.to_string().contains("not available"), "{e}");
        assert!(StreamOrDevice::Device(Device::gpu()).resolve().is_err());
        assert_eq!(default_stream(Device::cpu()).unwrap().index, 0);
        assert_eq!(Device::cpu().to_string(), "Device(cpu, 0)");
    }

    #[test]
    fn scoped_stream() {
        let s = new_stream(Device::cpu()).unwrap();
        let inner = with_stream(s, current_stream).unwrap();
        assert_eq!(inner, s);
        assert_ne!(current_stream(), s);

        let prev = enter_stream_scope(s).unwrap();
        assert_eq!(current_stream(), s);
        exit_stream_scope(prev);
        assert_ne!(current_stream(), s);
        assert!(enter_stream_scope(Stream {
            index: 9,
            device: Device::gpu()
        })
        .is_err());
    }

    #[test]
    fn cpu_device_info_names_the_architecture() {
        let info = device_info(Device::cpu()).unwrap();
        assert_eq!(
            info[0],
            ("architecture", std::env::consts::ARCH.to_string())
        );
        assert!(!info[1].1.is_empty());
        assert!(device_info(Device::gpu()).is_err());
    }
}
