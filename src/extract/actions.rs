//! What the reporter's side has done: "Killed all sessions and moved users to the
//! backup gateway", "Her access was suspended", "Borré el correo", "Troquei a senha",
//! and "nothing yet" in its forms ("Nenhuma ainda", "no he hecho nada"). Pure: a clause
//! in, a verdict out.

use std::sync::LazyLock;

use regex::Regex;

use super::answers;

/// English verbs of containment and response, active or passive ("blocked", "was
/// suspended"). Calling and telling count only with someone named after them.
static EN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)\b(?:
            disconnect(?:ed)? | isolat(?:ed|e) | unplugged | reset | block(?:ed)? | quarantined
          | wiped | re-?imaged | disabled | revoked | killed | terminated | suspended
          | changed\ (?:the|her|his|my|our|their|all)\b | rotated | expired | forced\ a
          | took\ (?:\S+\ ){1,3}(?:off(?:line)?|down) | taken\ (?:offline|off\ the\ \w+) | shut\ (?:\S+\ ){0,2}down
          | shut\ off | powered\ (?:it\ )?(?:off|down) | turned\ (?:off|on) | enabled
          | removed | deleted | purged | pulled | locked | remote(?:ly)?\ wiped?
          | (?:was|were|been|is|are|we|have|has)\ contained
          | filed\ a\ police\ report | filed\ a\ report | reported\ it\ to\ (?:the\ )?police
          | moved\ (?:the|users|all|it|them|her|his) | upgraded | patched | updated\ the
          | uninstalled | restored | rolled\ back
          | rebooted | restarted | replaced | restricted | closed\ (?:the\ (?:port|account|container|bucket|share|firewall)|port|access)
          | added\ (?:the|a|an|rate|them|it|to)\b | put\ (?:a|it|them|the)\b
          | engaged | evacuated | denied | logged\ (?:out|off) | signed\ (?:out|off)
          | took\ a\ screenshot | took\ screenshots | ran\ (?:a|an)\ (?:\S+\ ){0,2}scan
          | recalled | retracted | cancel(?:l)?ed | froze | stopped\ (?:the|it|all)
          | warned | alerted\ (?:the|our|all|staff|users) | advised | informed\ (?:the|our|her|his)
          | notified\ (?:the|our|her|his|fbi|police|privacy) | contacted\ (?:the|our|her|his)
          | called\ (?:the|her|his|their|our|it|a|back)\b | asked\ (?:the|our|her|him|them|it|a)\b
          | escalated | opened\ a\ ticket | confirmed\ with | verified\ with
          | taken\ down | reported\ (?:it|them|this|the\ \w+)\ to
          | asked\ \w+(?:\ \w+)?\ to\ \w+ | searched\ (?:the|our|her|his|for) | reviewed\ (?:the|logs|our)
          | checked\ (?:the|for|logs|our|all) | reminded | preserved | set\ (?:an?|the)\ \w+\ (?:rule|policy|filter)
          | took\ (?:a\ )?(?:snapshot|image|backup)s? | imaged | collected\ (?:the|logs)
        )\b",
    )
    .expect("action regex")
});

/// Spanish and Portuguese verbs of the same, by stem and a past or participle ending
/// ("borré", "cambió", "bloqueamos", "troquei", "desligou", "foi removido").
static ES_PT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)\b(?:
            borr | cambi | llam | bloque | apag | desconect | avis | aisl | elimin | reinici
          | suspend | desactiv | deshabilit | denunci | evacu | cerr | revoc | retir | escane
          | restaur | actualiz | desinstal | restablec | report | inform | notific | contact
          | troc | troqu | deslig | remov | isol | tent | redefin | lig | desativ | exclu
          | fech | revog | deslog | encaminh | registr | coloc | reset | limp
        )(?:é|ó|ué|ió|amos|imos|emos|aron|ieron|aram|eram|iram|ei|uei|ou|eu|iu|í
          | ado|ada|ados|adas|ido|ida|idos|idas)\b",
    )
    .expect("es/pt action regex")
});

/// "Nothing yet", "None so far", "Nenhuma ainda", "Ninguna:", "no he hecho nada".
static NONE_YET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        ^\s*(?:none|nothing|nada|ninguna|ninguno|nenhuma|nenhum)\b\s*(?:yet|so\ far|ainda|aún|todavía|[:.,;]|$)
      | \b(?:nothing\ yet|no\ action(?:\ taken|\ yet|\ so\ far|s\ taken|s\ yet)?(?:$|[.;,])|none\ yet|haven't\ done\ anything|have\ not\ done\ anything
          | didn't\ do\ anything|did\ not\ do\ anything|done\ nothing|did\ nothing
          | nobody\ (?:is\ )?touching|no\ one\ (?:is\ )?touching|no\ he\ hecho\ nada
          | no\ hemos\ hecho\ nada|nada\ aún|nada\ todavía|nada\ ainda|não\ fiz\ nada
          | não\ fizemos\ nada|nenhuma\ providência|ninguna\ acción)\b",
    )
    .expect("none-yet regex")
});

/// The one doing it is the attacker, or the sentence is about the message itself.
const NOT_OURS: &[&str] = &[
    "attacker",
    "hacker",
    "threat actor",
    "scammer",
    "someone",
    "somebody",
    "the phish",
    "the malware",
    "the ransomware",
    "the script",
    "this message",
    "this email",
    "this e-mail",
    "confidential",
    "alguien",
    "alguém",
    "el atacante",
    "o atacante",
    "unsubscribe",
    // A lure asks the reader to act: "asking me to reset my password".
    "asking me",
    "asking you",
    "asking us",
    "asking for",
    "asking users",
    "asking staff",
    "asked me",
    "asks ",
    "told me to",
    "wants me",
    "pidiendo",
    "pedindo",
    "solicitando",
];

/// Words of the Spanish and Portuguese pattern that are nouns or states, not deeds.
const NOT_DEEDS: &[&str] = &[
    "llamada",
    "llamadas",
    "llamado",
    "ligado",
    "ligada",
    "tentado",
    "informado de",
];

/// Calling or telling the SOC is the report itself, not an action.
const TO_SOC: &[&str] = &[
    "the soc",
    "the hotline",
    "soc hotline",
    "your team",
    "you guys",
    "al soc",
    "ao soc",
];

/// What a clause says was done: `Some(true)` an action, `Some(false)` nothing done yet,
/// `None` neither.
pub fn taken(clause: &str) -> Option<bool> {
    let c = answers::unquoted(&answers::normalize(clause));
    if NONE_YET.is_match(&c) {
        return Some(false);
    }
    let t = c.trim_start();
    if t.starts_with("please") || t.starts_with("can ") || t.starts_with("could ") {
        return None;
    }
    if answers::not_stated(&c) || NOT_OURS.iter().any(|x| c.contains(x)) {
        return None;
    }
    let telling = |m: regex::Match<'_>| {
        [
            "called",
            "contacted",
            "notified",
            "informed",
            "advised",
            "alerted",
        ]
        .iter()
        .any(|v| m.as_str().starts_with(v))
    };
    let es_pt = ES_PT
        .find_iter(&c)
        .any(|m| !NOT_DEEDS.contains(&m.as_str()));
    let mut en = EN.find_iter(&c).peekable();
    if en.peek().is_none() && !es_pt {
        return None;
    }
    // "I haven't called the help desk yet", "ainda não troquei": not done yet. The
    // negation stands just before the verb ("searched … without luck" was done).
    let first = EN
        .find(&c)
        .into_iter()
        .chain(ES_PT.find(&c))
        .map(|m| m.start())
        .min()
        .unwrap_or(0);
    let before: Vec<&str> = c[..first].split_whitespace().rev().take(3).collect();
    if before.iter().any(|w| {
        w.ends_with("n't")
            || ["not", "never", "no", "não", "nao", "nunca", "yet", "ainda"].contains(w)
    }) && answers::negated(&c)
    {
        return Some(false);
    }
    // "I called the SOC hotline" alone is reporting.
    if TO_SOC.iter().any(|x| c.contains(x)) && en.all(telling) && !es_pt {
        return None;
    }
    Some(true)
}

/// What a sentence says was done, in its own words, with its rank: 0 for a deed
/// someone did ("we unplugged it", "Killed all sessions"), 1 for one only said to have
/// happened ("all blocked by the lockout policy"), 2 for "nothing yet". The text runs
/// from the first part (between commas, semicolons and joining words) that says so to
/// the sentence's end: "Around 0530 I got 6 prompts at roll call, I denied all of them"
/// gives "I denied all of them".
pub fn deeds(sentence: &str) -> Option<(String, u8)> {
    let mut span: Option<(usize, usize)> = None;
    let mut rank = 3u8;
    let mut at = 0;
    for part in parts(sentence) {
        let start = at;
        at += part.len();
        let r = match taken(part) {
            Some(true) => {
                let c = answers::normalize(part);
                let passive = EN.find_iter(&c).all(|m| {
                    let before = &c[..m.start()];
                    ["was ", "were ", "been ", "is ", "are ", "all "]
                        .iter()
                        .any(|p| before.ends_with(p))
                        || c[m.end()..].trim_start().starts_with("by ")
                }) && !ES_PT.is_match(&c);
                u8::from(passive)
            }
            Some(false) => 2,
            None => continue,
        };
        rank = rank.min(r);
        span = Some((span.map_or(start, |(s, _)| s), at));
    }
    // To the sentence's end: what follows says how it went ("… and see no signs").
    let (s, _) = span?;
    let e = sentence.len();
    let text = sentence[s..e].trim().trim_end_matches([',', ';']).trim();
    let text = ["and ", "And ", "then ", "but ", "y ", "e "]
        .iter()
        .find_map(|p| text.strip_prefix(p))
        .unwrap_or(text);
    Some((text.to_string(), rank))
}

/// A sentence cut before each comma, semicolon and joining word, the pieces together
/// being the whole sentence.
fn parts(sentence: &str) -> Vec<&str> {
    const JOINS: &[&str] = &[" and ", " but ", " then ", " y ", " e ", " pero ", " mas "];
    let mut cuts = vec![0];
    for (i, ch) in sentence.char_indices() {
        if matches!(ch, ',' | ';') {
            cuts.push(i + 1);
        } else if ch == ' ' && JOINS.iter().any(|j| sentence[i..].starts_with(j)) {
            cuts.push(i);
        }
    }
    cuts.push(sentence.len());
    cuts.dedup();
    cuts.windows(2).map(|w| &sentence[w[0]..w[1]]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_in_three_languages() {
        for s in [
            "Killed all sessions and moved users to the backup gateway at 07:30",
            "Her access was suspended today at 11 am",
            "Borré el correo",
            "La supervisora cambió la contraseña",
            "Troquei a senha e o TI apagou o e-mail",
            "Desligou o Wi-Fi na hora.",
            "Confirmed with the Chair by phone.",
            "Called the MBTA lost and found this morning",
            "We blocked the sender and purged the message.",
            "We asked Lumen to take the site offline",
            "it's been taken down",
            "Already reported it to Meta.",
            "searched the office and her car without luck.",
        ] {
            assert_eq!(taken(s), Some(true), "{s}");
        }
    }

    #[test]
    fn nothing_yet_and_what_is_not_an_action() {
        for s in [
            "Nenhuma ainda: ainda não trocou a senha.",
            "Ninguna: no la ha apagado.",
            "I haven't called the help desk yet because I wasn't sure who to tell.",
            "Nothing yet.",
            "No he hecho nada más.",
        ] {
            assert_eq!(taken(s), Some(false), "{s}");
        }
        for s in [
            "The attacker added an inbox rule that deleted replies.",
            "Can someone lock it?",
            "Please reset her password.",
            "We will reimage it tomorrow.",
            "I called the SOC hotline.",
            "I did not click anything.",
            "FYI only, no action needed from us I think.",
            "so we checked: no password resets or payroll changes",
            "me llegó un mensaje que decía \"su cuenta de empleado fue suspendida\"",
            "If you received this in error, notify the sender and delete it.",
        ] {
            assert_eq!(taken(s), None, "{s}");
        }
    }
}
