//! The password check of `radius.password = "pam"`: a PAM stack (`/etc/pam.d/<pam_service>`)
//! run for the user, its conversation answering the password for every hidden prompt.
//!
//! Hand-written calls to libpam, the only `unsafe` of this crate: `pam_start`, `pam_set_item`
//! (the remote host), `pam_authenticate`, `pam_acct_mgmt`, `pam_end`, and the conversation
//! function libpam calls back. A check blocks (pam_unix waits after a wrong password), so it
//! runs on a blocking thread, never on the UDP loop.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

const PAM_SUCCESS: c_int = 0;
const PAM_BUF_ERR: c_int = 5;
const PAM_CONV_ERR: c_int = 19;
const PAM_PROMPT_ECHO_OFF: c_int = 1;
#[cfg(test)]
const PAM_PROMPT_ECHO_ON: c_int = 2;
const PAM_ERROR_MSG: c_int = 3;
const PAM_TEXT_INFO: c_int = 4;
const PAM_RHOST: c_int = 4;
const PAM_SILENT: c_int = 0x8000;
const PAM_DISALLOW_NULL_AUTHTOK: c_int = 0x0001;
/// Most messages one conversation call may carry (Linux-PAM's own bound).
const PAM_MAX_NUM_MSG: c_int = 32;

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn = unsafe extern "C" fn(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int;

#[repr(C)]
struct PamConv {
    conv: Option<ConvFn>,
    appdata_ptr: *mut c_void,
}

/// libpam's opaque handle.
#[repr(C)]
struct PamHandle {
    _private: [u8; 0],
}

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_start(
        service_name: *const c_char,
        user: *const c_char,
        pam_conversation: *const PamConv,
        pamh: *mut *mut PamHandle,
    ) -> c_int;
    fn pam_set_item(pamh: *mut PamHandle, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_authenticate(pamh: *mut PamHandle, flags: c_int) -> c_int;
    fn pam_acct_mgmt(pamh: *mut PamHandle, flags: c_int) -> c_int;
    fn pam_end(pamh: *mut PamHandle, pam_status: c_int) -> c_int;
    fn pam_strerror(pamh: *mut PamHandle, errnum: c_int) -> *const c_char;
}

/// Why the password was not accepted. Never says anything of the password itself.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PamError {
    /// The service, user, host or password holds a NUL byte (PAM takes C strings).
    #[error("{0} holds a NUL byte")]
    Nul(&'static str),
    /// `pam_start` failed (no such service file, out of memory).
    #[error("pam_start for service {service}: {reason} ({code})")]
    Start {
        service: String,
        code: c_int,
        reason: String,
    },
    /// The stack refused: wrong password, unknown user, expired account …
    #[error("{stage}: {reason} ({code})")]
    Refused {
        stage: &'static str,
        code: c_int,
        reason: String,
    },
}

/// Checks `password` for `user` with the stack of `service`: `pam_authenticate` then
/// `pam_acct_mgmt`. `rhost` becomes `PAM_RHOST` (what pam_unix logs). Blocks.
pub(crate) fn check_password(
    service: &str,
    user: &str,
    password: &[u8],
    rhost: &str,
) -> Result<(), PamError> {
    let service_c = CString::new(service).map_err(|_| PamError::Nul("the PAM service"))?;
    let user_c = CString::new(user).map_err(|_| PamError::Nul("the user name"))?;
    let rhost_c = CString::new(rhost).map_err(|_| PamError::Nul("the remote host"))?;
    if password.contains(&0) {
        return Err(PamError::Refused {
            stage: "pam_authenticate",
            code: PAM_CONV_ERR,
            reason: "the password holds a NUL byte".into(),
        });
    }
    let mut answer = Answer { password };
    let conv = PamConv {
        conv: Some(converse),
        appdata_ptr: ptr::from_mut(&mut answer).cast(),
    };
    let mut handle: *mut PamHandle = ptr::null_mut();
    // SAFETY: the strings are NUL-terminated and live past pam_end below; `conv` and the
    // `answer` it points to live until the end of this function, after pam_end; `handle`
    // is a valid out-pointer.
    let code = unsafe { pam_start(service_c.as_ptr(), user_c.as_ptr(), &conv, &mut handle) };
    if code != PAM_SUCCESS || handle.is_null() {
        return Err(PamError::Start {
            service: service.to_owned(),
            code,
            reason: reason(ptr::null_mut(), code),
        });
    }
    let result = run_stack(handle, &rhost_c);
    let status = match &result {
        Ok(()) => PAM_SUCCESS,
        Err(PamError::Refused { code, .. }) => *code,
        Err(_) => PAM_CONV_ERR,
    };
    // SAFETY: `handle` came from a successful pam_start and is ended exactly once, here.
    unsafe { pam_end(handle, status) };
    result
}

/// `pam_set_item(PAM_RHOST)`, `pam_authenticate`, `pam_acct_mgmt` on a started handle.
fn run_stack(handle: *mut PamHandle, rhost: &CStr) -> Result<(), PamError> {
    // SAFETY: `handle` is live (started, not ended); libpam copies the string.
    let code = unsafe { pam_set_item(handle, PAM_RHOST, rhost.as_ptr().cast()) };
    if code != PAM_SUCCESS {
        return Err(refused(handle, "pam_set_item", code));
    }
    let flags = PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK;
    // SAFETY: `handle` is live; the conversation it holds points at data still alive.
    let code = unsafe { pam_authenticate(handle, flags) };
    if code != PAM_SUCCESS {
        return Err(refused(handle, "pam_authenticate", code));
    }
    // SAFETY: as above.
    let code = unsafe { pam_acct_mgmt(handle, flags) };
    if code != PAM_SUCCESS {
        return Err(refused(handle, "pam_acct_mgmt", code));
    }
    Ok(())
}

fn refused(handle: *mut PamHandle, stage: &'static str, code: c_int) -> PamError {
    PamError::Refused {
        stage,
        code,
        reason: reason(handle, code),
    }
}

/// libpam's words for `code`.
fn reason(handle: *mut PamHandle, code: c_int) -> String {
    // SAFETY: pam_strerror accepts any code and (in Linux-PAM) ignores the handle, which is
    // live or null; it returns a static string or null.
    let text = unsafe { pam_strerror(handle, code) };
    if text.is_null() {
        return format!("PAM error {code}");
    }
    // SAFETY: non-null, NUL-terminated, static in libpam.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

/// What the conversation answers with.
struct Answer<'a> {
    password: &'a [u8],
}

/// The conversation libpam calls: the password for each hidden prompt, nothing for a
/// message, and a refusal for a visible prompt (nobody is there to type an answer).
unsafe extern "C" fn converse(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int {
    if num_msg <= 0 || num_msg > PAM_MAX_NUM_MSG || msg.is_null() || resp.is_null() {
        return PAM_CONV_ERR;
    }
    let Ok(count) = usize::try_from(num_msg) else {
        return PAM_CONV_ERR;
    };
    // A panic must not unwind into C.
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: libpam passes `num_msg` message pointers, each valid for this call
        // (Linux-PAM's layout: an array of pointers), and the appdata it was given: an
        // `Answer` that outlives the handle.
        let (styles, answer) = unsafe {
            let styles: Option<Vec<c_int>> = (0..count)
                .map(|i| {
                    let m = *msg.add(i);
                    (!m.is_null()).then(|| (*m).msg_style)
                })
                .collect();
            (styles, &*appdata_ptr.cast::<Answer<'_>>())
        };
        let Some(styles) = styles else {
            return PAM_CONV_ERR;
        };
        if styles
            .iter()
            .any(|&s| !matches!(s, PAM_PROMPT_ECHO_OFF | PAM_ERROR_MSG | PAM_TEXT_INFO))
        {
            // PAM_PROMPT_ECHO_ON or a style this does not know.
            return PAM_CONV_ERR;
        }
        // SAFETY: calloc of `count` zeroed responses; libpam frees the array and each
        // answer with free().
        let replies =
            unsafe { libc::calloc(count, size_of::<PamResponse>()) }.cast::<PamResponse>();
        if replies.is_null() {
            return PAM_BUF_ERR;
        }
        for (i, &style) in styles.iter().enumerate() {
            if style != PAM_PROMPT_ECHO_OFF {
                continue;
            }
            let copy = c_copy(answer.password);
            if copy.is_null() {
                // SAFETY: `replies` holds `count` entries, each null or from c_copy.
                unsafe { free_replies(replies, count) };
                return PAM_BUF_ERR;
            }
            // SAFETY: i < count, within the calloc'd array.
            unsafe { (*replies.add(i)).resp = copy };
        }
        // SAFETY: `resp` is a valid out-pointer from libpam.
        unsafe { *resp = replies };
        PAM_SUCCESS
    }))
    .unwrap_or(PAM_CONV_ERR)
}

/// A malloc'd NUL-terminated copy of `bytes` (which hold no NUL), or null.
fn c_copy(bytes: &[u8]) -> *mut c_char {
    // SAFETY: malloc of len + 1 bytes; checked for null before use.
    let copy = unsafe { libc::malloc(bytes.len() + 1) }.cast::<u8>();
    if copy.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: `copy` has room for len + 1 bytes and does not overlap `bytes`.
    unsafe {
        ptr::copy_nonoverlapping(bytes.as_ptr(), copy, bytes.len());
        *copy.add(bytes.len()) = 0;
    }
    copy.cast()
}

/// Wipes and frees the answers made so far and the array, after a failure.
///
/// # Safety
/// `replies` must be a calloc'd array of `count` responses whose `resp` are null or from
/// [`c_copy`].
unsafe fn free_replies(replies: *mut PamResponse, count: usize) {
    for i in 0..count {
        // SAFETY: i < count; each resp is null or a NUL-terminated malloc'd copy.
        unsafe {
            let r = (*replies.add(i)).resp;
            if !r.is_null() {
                let len = libc::strlen(r);
                ptr::write_bytes(r, 0, len);
                libc::free(r.cast());
            }
        }
    }
    // SAFETY: from calloc, freed once.
    unsafe { libc::free(replies.cast()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_bytes_are_refused_before_pam() {
        assert!(matches!(
            check_password("x\0", "alice", b"pw", "radius:vpn1"),
            Err(PamError::Nul(_))
        ));
        let e = check_password("mfa-radius", "alice", b"p\0w", "radius:vpn1").unwrap_err();
        assert!(!e.to_string().contains("p\0w"), "{e}");
    }

    #[test]
    fn the_conversation_answers_hidden_prompts_with_the_password() {
        let password = b"hunter2";
        let mut answer = Answer {
            password: &password[..],
        };
        let prompt = PamMessage {
            msg_style: PAM_PROMPT_ECHO_OFF,
            msg: c"Password: ".as_ptr(),
        };
        let info = PamMessage {
            msg_style: PAM_TEXT_INFO,
            msg: c"hello".as_ptr(),
        };
        let mut msgs: [*const PamMessage; 2] = [&info, &prompt];
        let mut resp: *mut PamResponse = ptr::null_mut();
        let appdata = ptr::from_mut(&mut answer).cast();
        // SAFETY: two valid messages, a valid out-pointer and an `Answer`, as libpam passes.
        let code = unsafe { converse(2, msgs.as_mut_ptr(), &mut resp, appdata) };
        assert_eq!(code, PAM_SUCCESS);
        // SAFETY: `resp` is the array converse made for two messages.
        unsafe {
            assert!((*resp).resp.is_null());
            assert_eq!(CStr::from_ptr((*resp.add(1)).resp).to_bytes(), password);
            free_replies(resp, 2);
        }
        let visible = PamMessage {
            msg_style: PAM_PROMPT_ECHO_ON,
            msg: c"login: ".as_ptr(),
        };
        let mut msgs: [*const PamMessage; 1] = [&visible];
        // SAFETY: as above, with one message.
        let code = unsafe { converse(1, msgs.as_mut_ptr(), &mut resp, appdata) };
        assert_eq!(code, PAM_CONV_ERR);
    }
}
