//! Trusted devices: a login that passed may let its device skip the code for a while, tied
//! to the record's revision so that any change of factors ends the trust.

use mfa_core::device::{self, DeviceId};

use super::Decider;
use crate::error::DaemonError;

/// What came of trusting a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceTrust {
    /// The device is trusted.
    Trusted,
    /// The factors changed since the login's code was checked; nothing was written.
    FactorsChanged,
}

impl Decider {
    /// Trusts `device` of `name` for `remember_secs` from `now` (bounded in number and to
    /// 90 days), if the record is still at `revision`: the one the login read before its code
    /// was checked (a change before the check refuses the trust too). Tied to it, so any
    /// later change of factors ends the trust. A change between the check and this write (an
    /// admin reset, a lost app removed) refuses it: trusting at the new revision would let
    /// the device outlive the very change meant to shut it out.
    pub fn trust_device(
        &self,
        name: &str,
        device: DeviceId,
        revision: u64,
        remember_secs: u64,
        now: u64,
    ) -> Result<DeviceTrust, DaemonError> {
        Ok(self.store.update(name, |record| {
            if record.revision != revision {
                return DeviceTrust::FactorsChanged;
            }
            device::trust(&mut record.trusted, device, revision, now, remember_secs);
            DeviceTrust::Trusted
        })?)
    }

    /// Ends every trust of `name`'s devices; how many there were.
    pub fn forget_devices(&self, name: &str) -> Result<usize, DaemonError> {
        Ok(self
            .store
            .update(name, |record| std::mem::take(&mut record.trusted).len())?)
    }

    /// Ends the trust of `name`'s one device `device`; whether it was trusted. The other
    /// devices stay trusted: this is no change of factors.
    pub fn forget_device(&self, name: &str, device: &DeviceId) -> Result<bool, DaemonError> {
        Ok(self.store.update(name, |record| {
            let before = record.trusted.len();
            record.trusted.retain(|d| &d.id != device);
            record.trusted.len() != before
        })?)
    }
}
