//! The one check every profile passes, built-in or from a node's config:
//! names and kinds make sense, nothing is both allowed and denied, no
//! allowed flag is one known to run code or write anywhere, and the output
//! patterns compile. A config is trusted; the lines it lets in are not.

use super::frames;
use super::kinds::{Kind, is_output};
use super::model::{Builder, Profile, Resume, ScenePlace, Syntax};

/// Flags known to run code, load code, or read or write files of the
/// sender's choice, in any of the programs droprender knows
/// (shared/reference/maya-render.md, blender.md, docs/renderers.md). No
/// profile may allow them or pass them as fixed arguments. Names of three
/// or more characters match ignoring case; a trailing `*` is a prefix.
/// Short names are left out where another program uses them harmlessly.
pub const UNSAFE_FLAGS: &[&str] = &[
    // Maya
    "-preRender",
    "-postRender",
    "-preLayer",
    "-postLayer",
    "-preFrame",
    "-postFrame",
    "-pre",
    "-post",
    "-insertPre*",
    "-insertPost*",
    "-interactive",
    "-rst",
    "-rsp",
    "-rsa",
    "-rendersetuptemplate",
    "-rendersettingspreset",
    "-rendersettingsaov",
    "-log",
    "-ai:lfn",
    "-ai:stf",
    "-ai:pff",
    "-ribFile",
    "-exportFileName",
    "-ai:sppg",
    "-ai:sppr",
    "-ai:spsh",
    "-ai:sptx",
    "-ai:uopt",
    "-ai:port",
    "-keepMel",
    // Blender
    "-P",
    "--python*",
    "--addons",
    "--command",
    "--enable-autoexec",
    "--env-system-*",
    "--app-template",
    "--register*",
    "--log-file",
    "--debug*",
    // 3ds Max
    "-preRenderScript",
    "-postRenderScript",
    "-script",
    "-cmdFile",
    "@*",
    "-preset",
    "-rps",
    "-sceneState",
    "-batchRender",
    "-pathFile",
    "-workPath",
    "-bitmapPath",
    "-xrefPath",
    "-submit",
    "-readJobFile",
    "-secure",
    "-mxs",
    "-mxsString",
    "-listenerLog",
    // husk
    "--prerender-script",
    "--preframe-script",
    "--postframe-script",
    "--postrender-script",
    "--presnapshot-script",
    "--postsnapshot-script",
    "--delegate-options",
    "--allowed-procedurals",
    "--stdout",
    "--stderr",
    "--append-stdout",
    "--append-stderr",
    "--property-definitions-file",
    "--usd-chrome-file",
    "--usd-trace",
    "--procedurals-capture-directory",
    "--snapshot-path",
    "--resolver-context",
    "--mplay-remotehost",
    // Cinema 4D
    "-arnoldLogFile",
    "-arnoldSceneExport",
    "-arnoldAssExport",
    // kick
    "-set",
    "-logfile",
    "-resave",
    // V-Ray
    "-include",
    "-remapPath",
    "-remapPathFile",
    "-parameterOverride",
    "-configFile",
    // anything spelled like a script hook
    "-python*",
    "--script*",
    "-script*",
];

/// Whether `flag` is on [`UNSAFE_FLAGS`].
pub fn is_unsafe(flag: &str) -> bool {
    UNSAFE_FLAGS.iter().any(|u| {
        let (pat, prefix) = match u.strip_suffix('*') {
            Some(p) => (p, true),
            None => (*u, false),
        };
        let fold = pat.len() >= 3;
        let (f, p) = if fold {
            (flag.to_ascii_lowercase(), pat.to_ascii_lowercase())
        } else {
            (flag.to_string(), pat.to_string())
        };
        if prefix { f.starts_with(&p) } else { f == p }
    })
}

fn flag_name_ok(n: &str, syntax: Syntax) -> bool {
    let body = n.trim_start_matches('-');
    n.starts_with('-')
        && !body.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_:?.#".contains(c))
        && !(syntax != Syntax::Space && n[1..].contains([':', '=']))
}

fn word_ok(s: &str, extra: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

impl Profile {
    /// Every rule a profile must meet; the first broken one, in words.
    pub fn check(&self) -> Result<(), String> {
        let name_ok = self.name.len() <= 32
            && self.name.starts_with(|c: char| c.is_ascii_lowercase())
            && word_ok(&self.name, "_-")
            && self.name.chars().all(|c| !c.is_ascii_uppercase());
        if !name_ok {
            return Err(
                "name: 1-32 lower-case letters, digits, _ or -, starting with a letter".into(),
            );
        }
        for (what, s) in [("label", &self.label), ("title", &self.title)] {
            if s.is_empty() || s.len() > 40 || s.chars().any(|c| c.is_control()) {
                return Err(format!("{what}: 1-40 printable characters"));
            }
        }
        if self.programs.is_empty()
            || !self
                .programs
                .iter()
                .all(|p| word_ok(p, "_.-") && !p.starts_with('-') && *p == p.to_ascii_lowercase())
        {
            return Err(
                "programs: one or more lower-case names such as \"husk\" or \"husk.exe\"".into(),
            );
        }
        if self.scene_extensions.is_empty()
            || !self.scene_extensions.iter().all(|e| {
                e.starts_with('.') && word_ok(&e[1..], ".") && *e == e.to_ascii_lowercase()
            })
        {
            return Err(
                "scene_extensions: one or more such as \".usd\" (lower case, with the dot)".into(),
            );
        }
        self.check_flags()?;
        self.check_frames()?;
        self.check_run()
    }

    fn check_flags(&self) -> Result<(), String> {
        let mut seen: Vec<String> = Vec::new();
        for spec in &self.allow {
            for n in std::iter::once(&spec.name).chain(&spec.aliases) {
                if !flag_name_ok(n, self.syntax) {
                    return Err(format!(
                        "allow: `{n}` is not a flag name (a dash, then letters, digits, _ - : ? . #)"
                    ));
                }
                let key = n.to_ascii_lowercase();
                let clash = seen.iter().any(|s| {
                    if self.ignore_case {
                        s.eq_ignore_ascii_case(&key)
                    } else {
                        s == n
                    }
                });
                if clash {
                    return Err(format!("allow: `{n}` is listed twice"));
                }
                seen.push(n.clone());
                if let Some(why) = self.denied(n) {
                    return Err(format!("`{n}` is both allowed and denied ({why})"));
                }
                if is_unsafe(n) {
                    return Err(format!(
                        "`{n}` runs code or writes files of the sender's choice in some renderer; no profile may allow it"
                    ));
                }
                if self
                    .scene_flag
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(n))
                {
                    return Err(format!(
                        "`{n}` is the scene flag; it cannot be allowed as well"
                    ));
                }
            }
            self.check_kind(&spec.name, &spec.kind)?;
            if let Some(req) = &spec.requires {
                match self.kind_of(&req.flag) {
                    Some(Kind::OneOf(values)) if req.values.iter().all(|v| values.contains(v)) => {}
                    _ => {
                        return Err(format!(
                            "{}: requires names {} with values it does not allow",
                            spec.name, req.flag
                        ));
                    }
                }
            }
        }
        for d in &self.deny {
            if d.names.is_empty() || d.why.is_empty() {
                return Err("deny: every entry needs names and a reason (why)".into());
            }
            for n in &d.names {
                let body = n.trim_end_matches('*');
                if body.is_empty()
                    || !(body.starts_with('-') || body.starts_with('@'))
                    || n.chars().any(char::is_whitespace)
                {
                    return Err(format!("deny: `{n}` is not a flag name or prefix"));
                }
            }
        }
        for d in &self.deny_values {
            if self.spec(&d.flag).is_none() {
                return Err(format!("deny_values: {} is not an allowed flag", d.flag));
            }
        }
        if let Some(s) = &self.scene_flag
            && !flag_name_ok(s, self.syntax)
        {
            return Err(format!("scene_flag: `{s}` is not a flag name"));
        }
        if let Some(sel) = &self.select
            && !matches!(self.kind_of(sel), Some(Kind::OneOf(_)))
        {
            return Err(format!(
                "select: {sel} must be an allowed flag with a one_of kind"
            ));
        }
        Ok(())
    }

    fn check_kind(&self, name: &str, kind: &Kind) -> Result<(), String> {
        let problem = match kind {
            Kind::Int(lo, hi) if lo > hi => {
                Some("int: the first bound is above the second".to_string())
            }
            Kind::IntPair(lo, hi) if lo > hi => {
                Some("int_pair: the first bound is above the second".to_string())
            }
            Kind::Float(lo, hi) if !(lo.is_finite() && hi.is_finite() && lo <= hi) => {
                Some("float: bounds must be finite, the first not above the second".to_string())
            }
            Kind::OneOf(v) if v.is_empty() || !v.iter().all(|w| word_ok(w, "_.#-,")) => {
                Some("one_of: one or more words of letters, digits and _ . # - ,".to_string())
            }
            Kind::Word { chars, max }
                if chars.is_empty()
                    || !chars.chars().all(|c| c.is_ascii_alphanumeric())
                    || !(1..=64).contains(max) =>
            {
                Some("word: chars are letters and digits only, max 1-64".to_string())
            }
            Kind::OutputFile(exts)
                if exts.is_empty()
                    || !exts
                        .iter()
                        .all(|e| e.starts_with('.') && word_ok(&e[1..], "")) =>
            {
                Some("output_file: one or more extensions such as \".exr\"".to_string())
            }
            Kind::IntPair(..) | Kind::FrameSpan if self.syntax != Syntax::Space => {
                Some("a value of two or more arguments needs syntax = \"space\"".to_string())
            }
            _ => None,
        };
        problem.map_or(Ok(()), |p| Err(format!("{name}: {p}")))
    }

    fn check_frames(&self) -> Result<(), String> {
        let f = &self.frames;
        for (role, name) in [
            ("start", &f.start),
            ("end", &f.end),
            ("step", &f.step),
            ("count", &f.count),
            ("list", &f.list),
            ("span", &f.span),
        ] {
            let Some(name) = name else { continue };
            match self.kind_of(name) {
                Some(k) if frames::fits(role, k) => {}
                _ => {
                    return Err(format!(
                        "frames.{role}: {name} must be an allowed flag of a {role} kind"
                    ));
                }
            }
        }
        if (f.end.is_some() || f.count.is_some()) && f.start.is_none() {
            return Err("frames: end and count need a start flag".into());
        }
        if f.from_scene_name && self.run.frames != Resume::PerFrame {
            return Err("frames.from_scene_name needs run.frames = \"per_frame\"".into());
        }
        Ok(())
    }

    fn check_run(&self) -> Result<(), String> {
        let r = &self.run;
        match (r.builder, self.name.as_str()) {
            (Builder::Generic, _) | (Builder::Maya, "maya") | (Builder::Blender, "blender") => {}
            _ => return Err(
                "run.builder: \"maya\" and \"blender\" belong to those profiles; use \"generic\""
                    .into(),
            ),
        }
        if r.program.is_empty() || r.program.chars().any(|c| c.is_control()) {
            return Err("run.program: the program to run".into());
        }
        for a in r.fixed.iter().chain(&r.skip_existing) {
            if a.chars().any(|c| c.is_control()) || is_unsafe(self.split_name(a)) {
                return Err(format!(
                    "run: `{a}` runs code or writes files of the sender's choice"
                ));
            }
            // A line could otherwise give the program the same flag twice.
            if a.starts_with('-') && self.allowed(self.split_name(a)).is_some() {
                return Err(format!(
                    "run: the node passes `{a}` itself; a line may not allow it too"
                ));
            }
        }
        if r.scene == ScenePlace::Flag && self.scene_flag.is_none() {
            return Err("run.scene = \"flag\" needs scene_flag".into());
        }
        if !(1..=9).contains(&r.pad) {
            return Err("run.pad: 1 to 9 digits".into());
        }
        if r.builder == Builder::Generic {
            let f = &self.frames;
            let ok = match r.frames {
                Resume::Runs => f.list.is_none() || f.start.is_some() || f.span.is_some(),
                Resume::List => f.list.is_some(),
                Resume::PerFrame => f.from_scene_name,
            };
            if !ok {
                return Err("run.frames does not fit the frames flags: runs needs start/end, start/count or span; list needs list; per_frame needs from_scene_name".into());
            }
            let Some(out) = &r.output else {
                return Err("run.output: the flag and pattern of the output the node sets".into());
            };
            self.check_output(&out.flag, &out.pattern)?;
        }
        for owned in r.output.iter().map(|o| &o.flag) {
            if let Some(spec) = self.allowed(owned)
                && !is_output(&spec.kind)
            {
                return Err(format!(
                    "{owned} is the node's output flag; a line may set it only with an output kind"
                ));
            }
        }
        self.check_patterns()
    }

    fn split_name<'a>(&self, arg: &'a str) -> &'a str {
        let cut = match self.syntax {
            Syntax::Colon => arg.find([':', '=']),
            _ => arg.find('='),
        };
        cut.map_or(arg, |i| &arg[..i])
    }

    fn check_output(&self, flag: &str, pattern: &str) -> Result<(), String> {
        if !flag_name_ok(flag, self.syntax) {
            return Err(format!("run.output.flag: `{flag}` is not a flag name"));
        }
        let rest = pattern.strip_prefix("{dir}/").unwrap_or("");
        let literal = rest.replace("{stem}", "s").replace("{frame}", "1");
        let ok = !rest.is_empty()
            && !literal.contains("..")
            && !literal.contains(['/', '\\', '{', '}', '~', '`']);
        if !ok {
            return Err("run.output.pattern: `{dir}/` then a file name with {stem} and {frame} (no folders, no ..)".into());
        }
        if self.run.frames == Resume::PerFrame && !pattern.contains("{frame}") {
            return Err("run.output.pattern: per-frame runs need {frame}".into());
        }
        Ok(())
    }

    fn check_patterns(&self) -> Result<(), String> {
        let p = &self.run.patterns;
        for (what, list) in [
            ("frame_started", &p.frame_started),
            ("percent", &p.percent),
            ("frame_done", &p.frame_done),
            ("error", &p.error),
        ] {
            for pat in list {
                let re = regex::RegexBuilder::new(pat)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("run.patterns.{what}: {pat:?} does not compile: {e}"))?;
                let groups: Vec<&str> = re.capture_names().flatten().collect();
                let fits = match what {
                    "percent" => {
                        groups.contains(&"percent")
                            || (groups.contains(&"done") && groups.contains(&"total"))
                    }
                    "error" => true,
                    _ => groups.iter().all(|g| *g == "path" || *g == "frame"),
                };
                if !fits {
                    return Err(format!(
                        "run.patterns.{what}: {pat:?} needs the named groups (?P<percent>…) or (?P<done>…)/(?P<total>…) for percent, (?P<path>…) or (?P<frame>…) for frames"
                    ));
                }
            }
        }
        if self.run.builder == Builder::Generic && p.percent.is_empty() && p.frame_done.is_empty() {
            return Err("run.patterns: a percent or frame_done pattern, so progress shows".into());
        }
        Ok(())
    }
}
