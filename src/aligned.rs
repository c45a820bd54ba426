//! A fixed-length, heap-allocated array whose first element starts a 64-byte cache line.
//!
//! `Vec<T>` only guarantees `T`'s own alignment, so the hot arrays (node records, edges,
//! per-node spread state) could start mid-line and make every cache line straddle two nodes'
//! worth of data. Allocating them at cache-line alignment keeps the layout documented in
//! `graph` and `scratch` true in memory.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Alignment of every [`CacheAligned`] array.
pub const CACHE_LINE: usize = 64;

pub struct CacheAligned<T> {
    ptr: NonNull<T>,
    len: usize,
}

// SAFETY: `CacheAligned<T>` owns its elements exactly like `Box<[T]>`.
unsafe impl<T: Send> Send for CacheAligned<T> {}
unsafe impl<T: Sync> Sync for CacheAligned<T> {}

impl<T> CacheAligned<T> {
    fn layout(len: usize) -> Layout {
        let size = std::mem::size_of::<T>()
            .checked_mul(len)
            .unwrap_or_else(|| panic!("array of {len} elements is too large"));
        Layout::from_size_align(size.max(1), CACHE_LINE.max(std::mem::align_of::<T>()))
            .unwrap_or_else(|_| panic!("array of {len} elements is too large"))
    }

    /// Builds an array of `len` elements, the `i`-th being `f(i)`.
    pub fn from_fn(len: usize, mut f: impl FnMut(usize) -> T) -> Self {
        let layout = Self::layout(len);
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc(layout) } as *mut T;
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        for i in 0..len {
            // SAFETY: `i < len`, inside the allocation; each slot is written once. (If `f`
            // panicked, the elements written so far would leak: acceptable, never unsound.)
            unsafe { ptr.as_ptr().add(i).write(f(i)) };
        }
        CacheAligned { ptr, len }
    }

    pub fn from_vec(v: Vec<T>) -> Self {
        let mut it = v.into_iter();
        let len = it.len();
        Self::from_fn(len, |_| {
            it.next().unwrap_or_else(|| unreachable!("exact length"))
        })
    }
}

impl<T: Default> CacheAligned<T> {
    pub fn new_default(len: usize) -> Self {
        Self::from_fn(len, |_| T::default())
    }
}

impl<T> Deref for CacheAligned<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `len` initialised elements live at `ptr`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> DerefMut for CacheAligned<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for CacheAligned<T> {
    fn drop(&mut self) {
        // SAFETY: the elements are initialised and dropped once; the layout is the one used
        // to allocate.
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                self.ptr.as_ptr(),
                self.len,
            ));
            dealloc(self.ptr.as_ptr() as *mut u8, Self::layout(self.len));
        }
    }
}

impl<T: Clone> Clone for CacheAligned<T> {
    fn clone(&self) -> Self {
        Self::from_fn(self.len, |i| self[i].clone())
    }
}

impl<T: PartialEq> PartialEq for CacheAligned<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: fmt::Debug> fmt::Debug for CacheAligned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheAligned")
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_a_cache_line_and_holds_its_elements() {
        for len in [0usize, 1, 3, 1000] {
            let a = CacheAligned::from_fn(len, |i| i as u32 * 3);
            assert_eq!(a.as_ptr() as usize % CACHE_LINE, 0);
            assert_eq!(a.len(), len);
            assert!(a.iter().enumerate().all(|(i, &v)| v == i as u32 * 3));
            let b = a.clone();
            assert_eq!(a, b);
        }
        let v = CacheAligned::from_vec(vec![String::from("a"), String::from("b")]);
        assert_eq!(&v[1], "b");
    }
}
