//! The demo's options from the kernel command line (`/chosen/bootargs`): `cargo xtask run
//! --frames N` starts QEMU with `-append "frames=N"` (doc/console-protocol.md).

use dmasync_protocol::bootargs;

/// What the command line asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DemoArgs {
    /// Frames to run (`frames=N`, N >= 1).
    pub frames: u32,
}

/// Frames run when the command line does not say.
pub const DEFAULT_FRAMES: u32 = 60;

/// A command-line word the demo cannot use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgError<'a> {
    /// The offending word.
    pub word: &'a str,
    /// What is wrong with it.
    pub why: &'static str,
}

impl core::fmt::Display for ArgError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "kernel command line: `{}`: {}", self.word, self.why)
    }
}

/// Parses whitespace-separated `key=value` words. `frames=N` sets the frame count; other
/// words are left to whoever else reads the command line.
pub fn parse(bootargs: &str) -> Result<DemoArgs, ArgError<'_>> {
    let mut args = DemoArgs {
        frames: DEFAULT_FRAMES,
    };
    for word in bootargs.split_ascii_whitespace() {
        if let Some((key, v)) = word.split_once('=')
            && key == bootargs::FRAMES
        {
            args.frames = match v.parse::<u32>() {
                Ok(0) => {
                    return Err(ArgError {
                        word,
                        why: "the frame count must be at least 1",
                    });
                }
                Ok(n) => n,
                Err(_) => {
                    return Err(ArgError {
                        word,
                        why: "the frame count is not a decimal number that fits in 32 bits",
                    });
                }
            };
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_from_the_command_line() {
        assert_eq!(parse("").unwrap().frames, DEFAULT_FRAMES);
        assert_eq!(parse("frames=3").unwrap().frames, 3);
        assert_eq!(
            parse("  console=ttyAMA0 frames=120 quiet").unwrap().frames,
            120
        );
        let e = parse("frames=x").unwrap_err();
        assert_eq!(e.word, "frames=x");
        assert_eq!(
            std::format!("{e}"),
            "kernel command line: `frames=x`: the frame count is not a decimal number that fits in 32 bits"
        );
        assert_eq!(
            parse("frames=0").unwrap_err().why,
            "the frame count must be at least 1"
        );
        assert!(parse("frames=99999999999").is_err());
    }
}
