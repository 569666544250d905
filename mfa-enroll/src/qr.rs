//! QR codes drawn in a terminal, for authenticator apps to scan.
//!
//! Each character cell holds two modules stacked (`▀`, `▄`, `█` or a space), which keeps the
//! modules square in a terminal font. The colours are forced to black on white, like
//! `qrencode -t ANSI`: drawn in the terminal's own colours, a dark theme would show the code
//! inverted, which many phone apps cannot read. The standard quiet zone of four modules is
//! part of the picture, so the code scans next to any surrounding text.

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use qrcode::types::QrError;

/// Black foreground (the modules) on a white background.
const BLACK_ON_WHITE: &str = "\x1b[30;47m";
/// Back to the terminal's own colours.
const RESET: &str = "\x1b[0m";

/// Draws `data` as a QR code: lines of equal width, each ending in a newline, colours reset
/// at the end of every line so a cut-off picture never leaves the terminal coloured.
pub fn render(data: &str) -> Result<String, QrError> {
    let code = QrCode::new(data.as_bytes())?;
    let picture = code.render::<Dense1x2>().quiet_zone(true).build();
    Ok(picture
        .lines()
        .map(|line| format!("{BLACK_ON_WHITE}{line}{RESET}\n"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "otpauth://totp/pam-mfa:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=pam-mfa&algorithm=SHA1&digits=6&period=30";
    /// Modules of quiet zone on each side.
    const QUIET: usize = 4;

    /// The visible characters of a line, without colour escapes.
    fn visible(line: &str) -> String {
        let inner = line
            .strip_prefix(BLACK_ON_WHITE)
            .and_then(|l| l.strip_suffix(RESET))
            .unwrap_or_else(|| panic!("line not wrapped in colours: {line:?}"));
        assert!(!inner.contains('\x1b'), "stray escape in {line:?}");
        inner.to_owned()
    }

    fn rows(picture: &str) -> Vec<Vec<char>> {
        assert!(picture.ends_with('\n'));
        picture
            .lines()
            .map(|l| visible(l).chars().collect())
            .collect()
    }

    #[test]
    fn dimensions_match_the_code_plus_quiet_zone() {
        let modules = QrCode::new(URI.as_bytes()).unwrap().width() + 2 * QUIET;
        let rows = rows(&render(URI).unwrap());
        // Two modules per character vertically, rounded up; one per character across.
        assert_eq!(rows.len(), modules.div_ceil(2));
        for row in &rows {
            assert_eq!(row.len(), modules);
        }
    }

    #[test]
    fn every_line_has_the_same_display_width() {
        for data in ["x", URI, &URI.repeat(5)] {
            let picture = render(data).unwrap();
            let widths: Vec<usize> = picture
                .lines()
                .map(|l| visible(l).chars().count())
                .collect();
            assert!(widths.iter().all(|w| *w == widths[0]), "{widths:?}");
            assert!(
                picture
                    .chars()
                    .all(|c| " \u{2580}\u{2584}\u{2588}\n\x1b[;0347m".contains(c)),
                "only half blocks, spaces and colour codes"
            );
        }
    }

    #[test]
    fn quiet_zone_is_blank_on_every_side() {
        let rows = rows(&render(URI).unwrap());
        let modules = rows[0].len();
        // Module rows 0..4 are the top two text lines; the module count is odd, so the last
        // text line holds one blank module row and the two above it hold the other three.
        for row in rows.iter().take(QUIET / 2).chain(rows.iter().rev().take(2)) {
            assert!(row.iter().all(|c| *c == ' '), "{row:?}");
        }
        let before_bottom = &rows[rows.len() - 3];
        assert!(
            before_bottom.iter().all(|c| *c == ' ' || *c == '\u{2580}'),
            "lower half of the line above the bottom quiet zone is blank"
        );
        for row in &rows {
            assert!(row[..QUIET].iter().all(|c| *c == ' '));
            assert!(row[modules - QUIET..].iter().all(|c| *c == ' '));
        }
        // And the code itself is there: the top of the top-left finder pattern.
        let finder: String = rows[2][QUIET..QUIET + 7].iter().collect();
        assert_eq!(
            finder,
            "\u{2588}\u{2580}\u{2580}\u{2580}\u{2580}\u{2580}\u{2588}"
        );
    }

    #[test]
    fn same_data_same_picture_other_data_other_picture() {
        assert_eq!(render(URI).unwrap(), render(URI).unwrap());
        let other = URI.replace("alice", "alicf");
        assert_ne!(render(URI).unwrap(), render(&other).unwrap());
    }

    #[test]
    fn too_much_data_is_an_error_not_a_panic() {
        assert!(matches!(
            render(&"x".repeat(8000)),
            Err(QrError::DataTooLong)
        ));
    }
}
