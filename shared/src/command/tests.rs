//! Unit tests of the grammar.

use super::*;

fn parse(s: &str) -> Result<Command, ParseError> {
    parse_str(s).map(|o| o.expect("a command").1)
}

#[test]
fn the_papers_line_parses() {
    let c = parse("rend:render -r sw -s 1 -e 10 shot01.mb").expect("valid");
    let Action::Render(r) = &c.action else {
        panic!("not a render")
    };
    assert_eq!(r.renderer, RendererKind::Maya);
    assert_eq!(r.program.as_deref(), Some("render"));
    assert_eq!(r.flag("-r"), Some("sw"));
    assert_eq!(r.flag("-e"), Some("10"));
    assert_eq!(r.scene, "shot01.mb");
    assert_eq!(c.to_line(), "rend:render -r sw -s 1 -e 10 shot01.mb");
}

#[test]
fn program_token_is_optional_and_any_spelling() {
    for line in [
        "rend:-s 1 a.mb",
        "rend:Render -s 1 a.mb",
        "rend:Render.exe -s 1 a.mb",
    ] {
        assert!(parse(line).is_ok(), "{line}");
    }
}

#[test]
fn progress_and_targets() {
    assert_eq!(parse("Progress:").expect("ok").action, Action::Progress);
    let c = parse("progress@boxB:").expect("ok");
    assert_eq!(c.target.as_deref(), Some("boxB"));
    assert_eq!(c.to_line(), "progress@boxB:");
    assert_eq!(
        parse("progress: now"),
        Err(ParseError::UnexpectedArguments("progress"))
    );
}

#[test]
fn rejections_say_why() {
    let e = parse("rend:render -preRender \"python('x')\" a.mb").unwrap_err();
    assert_eq!(e.to_string(), "-preRender is not allowed: it runs MEL code");
    assert!(matches!(parse("hello"), Err(ParseError::NoPrefix)));
    assert!(matches!(
        parse("explode: now"),
        Err(ParseError::UnknownCommand(_))
    ));
    assert!(matches!(
        parse("rend:-s \"1 a.mb"),
        Err(ParseError::UnterminatedQuote)
    ));
}

#[test]
fn control_commands() {
    assert_eq!(
        parse("Cancel: 12").expect("ok").action,
        Action::Cancel(Target::Job(12))
    );
    assert_eq!(
        parse("cancel: ALL").expect("ok").action,
        Action::Cancel(Target::All)
    );
    assert_eq!(parse("pause:").expect("ok").action, Action::Pause);
    assert_eq!(parse("resume:").expect("ok").action, Action::Resume(None));
    assert_eq!(
        parse("resume: #3").expect("ok").action,
        Action::Resume(Some(3))
    );
    assert_eq!(parse("suspend: 3").expect("ok").action, Action::Suspend(3));
    assert_eq!(
        parse("priority: 3 high").expect("ok").action,
        Action::Priority(3, 10)
    );
    assert_eq!(
        parse("priority: 3 -5").expect("ok").action,
        Action::Priority(3, -5)
    );
    assert_eq!(parse("retry: 3").expect("ok").to_line(), "retry:3");
    assert!(matches!(
        parse("cancel:"),
        Err(ParseError::NeedsJob("cancel"))
    ));
    assert!(parse("priority: 3 urgent").is_err());
    assert!(parse("status: now").is_err());
}

#[test]
fn job_options_anywhere_in_a_render_line() {
    let c = parse("rend:-s 1 after=12,13 a.mb timeout=1h30m retries=2 priority=high").expect("ok");
    let Action::Render(r) = &c.action else {
        panic!("not a render")
    };
    assert_eq!(r.options.after, [12, 13]);
    assert_eq!(r.options.timeout, Some(5400));
    assert_eq!(r.options.retries, Some(2));
    assert_eq!(r.options.priority, Some(10));
    assert_eq!(
        c.to_line(),
        "rend:-s 1 a.mb after=12,13 timeout=1h30m retries=2 priority=high"
    );
    assert_eq!(parse(&c.to_line()).expect("ok"), c);
    assert!(parse("rend:a.mb timeout=forever").is_err());
    assert!(parse("rend:a.mb retries=99").is_err());
    assert!(parse("rend:a.mb after=x").is_err());
    assert!(parse("rend:a.mb after=1 after=2").is_err());
    assert_eq!(parse_duration("2h"), Some(7200));
    assert_eq!(parse_duration("45"), Some(45));
    assert_eq!(format_duration(5400), "1h30m");
}

#[test]
fn gpus_and_slots() {
    let c = parse("rend:-s 1 a.mb gpus=2 SLOT=gpu-1").expect("ok");
    let Action::Render(r) = &c.action else {
        panic!("not a render")
    };
    assert_eq!(r.options.gpus, Some(2));
    assert_eq!(r.options.slot.as_deref(), Some("gpu-1"));
    assert_eq!(c.to_line(), "rend:-s 1 a.mb gpus=2 slot=gpu-1");
    assert_eq!(parse(&c.to_line()).expect("ok"), c);
    for bad in [
        "gpus=0",
        "gpus=17",
        "gpus=x",
        "slot=a/b",
        "slot=",
        "gpus=1 gpus=2",
    ] {
        assert!(parse(&format!("rend:a.mb {bad}")).is_err(), "{bad}");
    }
}

#[test]
fn quoted_scene_round_trips() {
    let c = parse("rend:-cam 'cam1' \"my shot.mb\"").expect("ok");
    assert_eq!(c.to_line(), "rend:-cam cam1 \"my shot.mb\"");
    assert_eq!(parse(&c.to_line()).expect("ok"), c);
}
