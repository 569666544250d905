//! The only module that touches C interfaces: the hooks `pam_hooks!` exports, and
//! [`PamHandler`] over a real PAM handle and libc. pam-bindings covers items, `pam_get_user`
//! and the conversation; `pam_getenv` and `pam_syslog` are declared here.

use std::ffi::{CStr, CString, c_char, c_int};
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::ptr;

use mfa_proto::Secret;
use pam::constants::{
    PAM_ERROR_MSG, PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_TEXT_INFO, PamFlag,
    PamMessageStyle, PamResultCode,
};
use pam::conv::Conv;
use pam::items::{AuthTok, Item, RHost, RUser, Service, Tty, User};
use pam::module::{PamHandle, PamHooks};
use pam::secret::SecretBytes;
use zeroize::Zeroizing;

use crate::authenticate::authenticate;
use crate::handler::{
    ConvError, ItemError, ItemProblem, LogLevel, MessageKind, PamHandler, PamItem,
};

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_getenv(pamh: *mut PamHandle, name: *const c_char) -> *const c_char;
    fn pam_syslog(pamh: *const PamHandle, priority: c_int, fmt: *const c_char, ...);
    fn pam_set_item(pamh: *mut PamHandle, item_type: c_int, item: *const libc::c_void) -> c_int;
}

/// `PAM_AUTHTOK` in `<security/_pam_types.h>`.
const PAM_AUTHTOK: c_int = 6;

/// The module's hooks. pam-bindings catches panics around each of them.
#[derive(Debug)]
pub(crate) struct PamMfa;

impl PamHooks for PamMfa {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        authenticate(&mut RealPam { pamh }, &args, flags)
    }

    /// There are no credentials to set; the stack must not fail here because of this module.
    fn sm_setcred(_pamh: &mut PamHandle, _args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
    }
}

/// [`PamHandler`] over the handle PAM passed to a hook.
struct RealPam<'a> {
    pamh: &'a mut PamHandle,
}

impl RealPam<'_> {
    fn string_item<'a, T>(&'a self, name: &'static CStr) -> Result<Option<String>, ItemError>
    where
        T: Item<'a> + Deref<Target = &'a CStr>,
    {
        match self.pamh.get_item::<T>() {
            Ok(None) => Ok(None),
            Ok(Some(value)) => to_string(name, &value).map(Some),
            Err(code) => Err(ItemError {
                name,
                problem: ItemProblem::Pam(code),
            }),
        }
    }

    fn converse(
        &mut self,
        style: PamMessageStyle,
        text: &str,
    ) -> Result<Option<SecretBytes>, ConvError> {
        let conv = match self.pamh.get_item::<Conv>() {
            Ok(Some(conv)) => conv,
            Ok(None) => return Err(ConvError::NoConversation),
            Err(code) => return Err(ConvError::Pam(code)),
        };
        conv.send(style, text).map_err(ConvError::Pam)
    }
}

fn to_string(name: &'static CStr, value: &CStr) -> Result<String, ItemError> {
    value.to_str().map(str::to_owned).map_err(|_| ItemError {
        name,
        problem: ItemProblem::NotUtf8,
    })
}

impl PamHandler for RealPam<'_> {
    fn item(&mut self, item: PamItem) -> Result<Option<String>, ItemError> {
        let name = item.name();
        match item {
            PamItem::Service => self.string_item::<Service>(name),
            PamItem::User => self.string_item::<User>(name),
            PamItem::RHost => self.string_item::<RHost>(name),
            PamItem::Tty => self.string_item::<Tty>(name),
            PamItem::RUser => self.string_item::<RUser>(name),
        }
    }

    fn get_user(&mut self) -> Result<String, PamResultCode> {
        self.pamh.get_user(None)
    }

    fn env(&mut self, name: &'static CStr) -> Result<Option<String>, ItemError> {
        // SAFETY: `self.pamh` is the live handle PAM passed to this hook and `name` is a
        // NUL-terminated string; pam_getenv only reads both.
        let value = unsafe { pam_getenv(ptr::from_mut(self.pamh), name.as_ptr()) };
        if value.is_null() {
            return Ok(None);
        }
        // SAFETY: a non-null result points to a NUL-terminated string in PAM's environment,
        // which stays valid until the environment is changed; it is copied before any other
        // PAM call.
        let value = unsafe { CStr::from_ptr(value) };
        to_string(name, value).map(Some)
    }

    fn prompt(&mut self, text: &str, echo: bool) -> Result<Secret, ConvError> {
        let style = if echo {
            PAM_PROMPT_ECHO_ON
        } else {
            PAM_PROMPT_ECHO_OFF
        };
        // `answer` wipes PAM's copy when dropped; the `Secret` wipes ours.
        let answer = self.converse(style, text)?.ok_or(ConvError::NoAnswer)?;
        let text = answer.as_str().map_err(|_| ConvError::AnswerNotUtf8)?;
        Ok(Secret::from(text))
    }

    fn prompt_bytes(&mut self, text: &str) -> Result<Zeroizing<Vec<u8>>, ConvError> {
        let answer = self
            .converse(PAM_PROMPT_ECHO_OFF, text)?
            .ok_or(ConvError::NoAnswer)?;
        Ok(Zeroizing::new(answer.as_bytes().to_vec()))
    }

    fn authtok(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, ItemError> {
        match self.pamh.get_item::<AuthTok>() {
            Ok(None) => Ok(None),
            Ok(Some(token)) => Ok(Some(Zeroizing::new(token.as_bytes().to_vec()))),
            Err(code) => Err(ItemError {
                name: c"PAM_AUTHTOK",
                problem: ItemProblem::Pam(code),
            }),
        }
    }

    fn set_authtok(&mut self, token: &[u8]) -> Result<(), ItemError> {
        let fail = |code| ItemError {
            name: c"PAM_AUTHTOK",
            problem: ItemProblem::Pam(code),
        };
        // A NUL inside cannot be passed to C; such a token is not set (PAM_BUF_ERR).
        let token = CString::new(token.to_vec())
            .map(|c| Zeroizing::new(c.into_bytes_with_nul()))
            .map_err(|_| fail(PamResultCode::PAM_BUF_ERR))?;
        // SAFETY: `self.pamh` is the live handle PAM passed to this hook; `token` is a
        // NUL-terminated string that outlives the call, and pam_set_item copies it.
        let code = unsafe {
            pam_set_item(
                ptr::from_mut(self.pamh),
                PAM_AUTHTOK,
                token.as_ptr().cast::<libc::c_void>(),
            )
        };
        if code == PamResultCode::PAM_SUCCESS as c_int {
            Ok(())
        } else {
            Err(fail(PamResultCode::PAM_SYSTEM_ERR))
        }
    }

    fn show(&mut self, kind: MessageKind, text: &str) -> Result<(), ConvError> {
        let style = match kind {
            MessageKind::Info => PAM_TEXT_INFO,
            MessageKind::Error => PAM_ERROR_MSG,
        };
        self.converse(style, text).map(drop)
    }

    fn syslog(&mut self, level: LogLevel, message: &str) {
        let priority = match level {
            LogLevel::Error => libc::LOG_ERR,
            LogLevel::Notice => libc::LOG_NOTICE,
            LogLevel::Debug => libc::LOG_DEBUG,
        };
        let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
        // SAFETY: `self.pamh` is the live handle PAM passed to this hook; the format "%s"
        // consumes exactly one argument, a NUL-terminated string that outlives the call.
        unsafe {
            pam_syslog(
                ptr::from_ref(self.pamh),
                priority,
                c"%s".as_ptr(),
                message.as_ptr(),
            );
        }
    }

    fn runs_as_root(&mut self) -> bool {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() == 0 }
    }

    fn trusted_listeners(&mut self, daemon_user: &str, listener: u32) -> [u32; 2] {
        // A listener running as root needs no lookup of the daemon's account, which walks
        // every NSS module when that account is not in /etc/passwd (bench/RESULTS.md: 121
        // system calls per login with libnss_systemd).
        if listener == 0 {
            return [0, 0];
        }
        [0, uid_of(daemon_user).unwrap_or(0)]
    }
}

/// The uid of `name` in the user database (NSS), `None` when it has no entry or the lookup
/// fails: either way that user is not trusted.
fn uid_of(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    // Room for any entry a daemon's system account has; a longer one fails the lookup (and
    // so leaves only root trusted) rather than growing a buffer in the host process.
    let mut buf: [c_char; 4096] = [0; 4096];
    let mut entry = MaybeUninit::<libc::passwd>::uninit();
    let mut found: *mut libc::passwd = ptr::null_mut();
    // SAFETY: `name` is NUL-terminated; `entry` and `found` are writable and `buf` is writable
    // for `buf.len()` bytes, all outliving the call, which writes only to them.
    let err = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            entry.as_mut_ptr(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if err != 0 || found.is_null() {
        return None;
    }
    // SAFETY: a zero return with a non-null `found` means getpwnam_r filled `entry`; only the
    // uid is read, no pointer into `buf`.
    Some(unsafe { entry.assume_init_ref() }.pw_uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handle for hooks that never pass it to PAM.
    fn unused_handle() -> &'static mut PamHandle {
        // SAFETY: `PamHandle` is zero-sized, so any aligned non-null pointer is a valid
        // reference to it; the hooks under test never hand it to PAM.
        unsafe { ptr::NonNull::<PamHandle>::dangling().as_mut() }
    }

    #[test]
    fn only_authenticate_acts() {
        assert_eq!(
            PamMfa::sm_setcred(unused_handle(), vec![], 0),
            PamResultCode::PAM_SUCCESS
        );
        for hook in [
            PamMfa::acct_mgmt,
            PamMfa::sm_open_session,
            PamMfa::sm_close_session,
            PamMfa::sm_chauthtok,
        ] {
            assert_eq!(hook(unused_handle(), vec![], 0), PamResultCode::PAM_IGNORE);
        }
    }
}
