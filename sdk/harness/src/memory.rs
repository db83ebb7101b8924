//! Bounds-checked access to guest linear memory; a bad guest pointer becomes an error, never a host panic.

use wasmtime::{Caller, Memory, TypedFunc};

use crate::state::HostState;
use crate::types::Status;

/// A guest pointer or length that falls outside linear memory (or no memory is exported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("guest memory access out of bounds: {len} bytes at {ptr:#x}")]
pub struct MemoryError {
    /// The guest address.
    pub ptr: u32,
    /// The number of bytes.
    pub len: u32,
}

/// What can go wrong inside a host function: a status for the guest, or a trap that aborts the call.
#[derive(Debug)]
pub(crate) enum Fault {
    Status(Status),
    Trap(wasmtime::Error),
}

impl From<MemoryError> for Fault {
    fn from(_: MemoryError) -> Self {
        Fault::Status(Status::InvalidMemoryAccess)
    }
}

impl From<Status> for Fault {
    fn from(status: Status) -> Self {
        Fault::Status(status)
    }
}

/// The result of a host function body.
pub(crate) type HostResult<T = ()> = Result<T, Fault>;

/// Turns a host function body's result into what wasmtime returns to the guest: a status code or a trap.
pub(crate) fn status_code(result: HostResult) -> wasmtime::Result<i32> {
    match result {
        Ok(()) => Ok(0),
        Err(Fault::Status(status)) => Ok(status.code() as i32),
        Err(Fault::Trap(error)) => Err(error),
    }
}

/// The byte range `[ptr, ptr + len)` of `mem`, if it is inside.
pub(crate) fn slice(mem: &[u8], ptr: u32, len: u32) -> Result<&[u8], MemoryError> {
    let start = ptr as usize;
    start
        .checked_add(len as usize)
        .and_then(|end| mem.get(start..end))
        .ok_or(MemoryError { ptr, len })
}

/// Copies `bytes` to `ptr` in `mem`, if the whole range is inside.
pub(crate) fn write(mem: &mut [u8], ptr: u32, bytes: &[u8]) -> Result<(), MemoryError> {
    let len = u32::try_from(bytes.len()).map_err(|_| MemoryError { ptr, len: u32::MAX })?;
    let start = ptr as usize;
    let target = start
        .checked_add(bytes.len())
        .and_then(|end| mem.get_mut(start..end))
        .ok_or(MemoryError { ptr, len })?;
    target.copy_from_slice(bytes);
    Ok(())
}

/// Reads a little-endian `u32` at `ptr`.
pub(crate) fn read_u32(mem: &[u8], ptr: u32) -> Result<u32, MemoryError> {
    let bytes = slice(mem, ptr, 4)?;
    let mut word = [0u8; 4];
    word.copy_from_slice(bytes);
    Ok(u32::from_le_bytes(word))
}

fn memory(caller: &Caller<'_, HostState>) -> Result<Memory, MemoryError> {
    caller.data().memory.ok_or(MemoryError { ptr: 0, len: 0 })
}

/// Copies `len` bytes at `ptr` out of guest memory.
pub(crate) fn read_bytes(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    len: i32,
) -> Result<Vec<u8>, MemoryError> {
    let memory = memory(caller)?;
    Ok(slice(memory.data(&*caller), ptr as u32, len as u32)?.to_vec())
}

/// Like [`read_bytes`], decoding the bytes as UTF-8 (lossily: Envoy takes names as raw bytes).
pub(crate) fn read_string(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    len: i32,
) -> Result<String, MemoryError> {
    let bytes = read_bytes(caller, ptr, len)?;
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Writes `bytes` at `ptr`.
pub(crate) fn write_bytes(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    bytes: &[u8],
) -> Result<(), MemoryError> {
    let memory = memory(caller)?;
    write(memory.data_mut(&mut *caller), ptr as u32, bytes)
}

/// Writes a little-endian `u32` at `ptr`.
pub(crate) fn write_u32(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    value: u32,
) -> Result<(), MemoryError> {
    write_bytes(caller, ptr, &value.to_le_bytes())
}

/// Writes a little-endian `u64` at `ptr`.
pub(crate) fn write_u64(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    value: u64,
) -> Result<(), MemoryError> {
    write_bytes(caller, ptr, &value.to_le_bytes())
}

/// Checks that `len` bytes at `ptr` are writable, without writing.
pub(crate) fn check_writable(
    caller: &Caller<'_, HostState>,
    ptr: i32,
    len: u32,
) -> Result<(), MemoryError> {
    let memory = memory(caller)?;
    slice(memory.data(caller), ptr as u32, len).map(|_| ())
}

/// Allocates guest memory with the module's allocator (`proxy_on_memory_allocate` or `malloc`).
pub(crate) fn allocate(caller: &mut Caller<'_, HostState>, size: u32) -> HostResult<u32> {
    let alloc: TypedFunc<i32, i32> = caller
        .data()
        .allocator
        .clone()
        .ok_or(Fault::Status(Status::InternalFailure))?;
    let ptr = alloc.call(&mut *caller, size as i32).map_err(Fault::Trap)? as u32;
    if ptr == 0 {
        return Err(Fault::Status(Status::InternalFailure));
    }
    Ok(ptr)
}

/// Returns `data` to the guest the way Envoy does: copied into memory from the guest's allocator, its address
/// written at `ptr_ptr` and its size at `size_ptr` (empty data is returned as a null pointer and size 0).
pub(crate) fn return_bytes(
    caller: &mut Caller<'_, HostState>,
    data: &[u8],
    ptr_ptr: i32,
    size_ptr: i32,
) -> HostResult {
    check_writable(caller, ptr_ptr, 4)?;
    check_writable(caller, size_ptr, 4)?;
    let size = u32::try_from(data.len()).map_err(|_| Fault::Status(Status::InternalFailure))?;
    let ptr = if data.is_empty() {
        0
    } else {
        let ptr = allocate(caller, size)?;
        write_bytes(caller, ptr as i32, data)?;
        ptr
    };
    write_u32(caller, ptr_ptr, ptr)?;
    write_u32(caller, size_ptr, size)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_inside_and_at_the_end() {
        let mem = [1u8, 2, 3, 4];
        assert_eq!(slice(&mem, 1, 2), Ok(&[2u8, 3][..]));
        assert_eq!(slice(&mem, 4, 0), Ok(&[][..]));
        assert_eq!(slice(&mem, 0, 4), Ok(&mem[..]));
    }

    #[test]
    fn slice_outside_is_an_error() {
        let mem = [0u8; 4];
        assert_eq!(slice(&mem, 3, 2), Err(MemoryError { ptr: 3, len: 2 }));
        assert_eq!(slice(&mem, 5, 0), Err(MemoryError { ptr: 5, len: 0 }));
        // An address near u32::MAX must not wrap around.
        assert!(slice(&mem, u32::MAX, 2).is_err());
    }

    #[test]
    fn write_and_read_back() {
        let mut mem = [0u8; 8];
        write(&mut mem, 2, &7u32.to_le_bytes()).unwrap();
        assert_eq!(read_u32(&mem, 2), Ok(7));
        assert!(write(&mut mem, 6, &[1, 2, 3]).is_err());
        assert_eq!(mem[6..], [0, 0]);
        assert!(read_u32(&mem, 5).is_err());
    }

    #[test]
    fn status_codes_follow_the_spec() {
        assert_eq!(status_code(Ok(())).unwrap(), 0);
        assert_eq!(
            status_code(Err(MemoryError { ptr: 0, len: 1 }.into())).unwrap(),
            6
        );
        assert_eq!(status_code(Err(Status::CasMismatch.into())).unwrap(), 8);
    }
}
