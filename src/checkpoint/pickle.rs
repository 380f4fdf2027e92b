//! A pickle reader that executes nothing: a stack machine over the opcodes a PyTorch state_dict
//! needs, which builds plain values. The only callables it knows are the few a state_dict names
//! (`collections.OrderedDict`, torch's tensor and parameter rebuilders, the storage types); any
//! other global (`os.system`, `builtins.eval`, ...) is refused by name as soon as it is read,
//! before anything is built.

use std::collections::HashMap;

/// A value built from a pickle.
#[derive(Clone, Debug)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer beyond i64 (LONG1); its value is not needed.
    BigInt,
    /// A float; its value is not needed.
    Float,
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// A dict or an OrderedDict, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// One of the allowed globals.
    Global(Global),
    /// A storage named by a persistent id: its key and element type, and where it starts in
    /// that storage (old legacy files name views of a storage, with an offset).
    Storage {
        key: String,
        dtype: StorageType,
        offset: usize,
    },
    /// `_rebuild_tensor_v2`'s result: a view of a storage.
    Tensor(TensorRef),
}

/// The callables and types a state_dict may name (`RebuildTensorV2` stands for both tensor
/// rebuilders).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    Storage(StorageType),
}

/// The element type of a torch storage (`torch.FloatStorage`, ...).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StorageType {
    F32,
    F16,
    BF16,
    F64,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl StorageType {
    pub fn size(self) -> usize {
        match self {
            StorageType::F64 | StorageType::I64 => 8,
            StorageType::F32 | StorageType::I32 => 4,
            StorageType::F16 | StorageType::BF16 | StorageType::I16 => 2,
            StorageType::I8 | StorageType::U8 | StorageType::Bool => 1,
        }
    }

    /// The name torch gives it in a pickle (`torch.FloatStorage` without `torch.`).
    pub fn torch_name(self) -> &'static str {
        match self {
            StorageType::F32 => "FloatStorage",
            StorageType::F16 => "HalfStorage",
            StorageType::BF16 => "BFloat16Storage",
            StorageType::F64 => "DoubleStorage",
            StorageType::I64 => "LongStorage",
            StorageType::I32 => "IntStorage",
            StorageType::I16 => "ShortStorage",
            StorageType::I8 => "CharStorage",
            StorageType::U8 => "ByteStorage",
            StorageType::Bool => "BoolStorage",
        }
    }

    const ALL: [StorageType; 10] = [
        StorageType::F32,
        StorageType::F16,
        StorageType::BF16,
        StorageType::F64,
        StorageType::I64,
        StorageType::I32,
        StorageType::I16,
        StorageType::I8,
        StorageType::U8,
        StorageType::Bool,
    ];
}

/// A tensor as a view of a storage: offset, sizes and strides in elements.
#[derive(Clone, Debug)]
pub struct TensorRef {
    pub storage: String,
    pub dtype: StorageType,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

fn allowed(module: &str, name: &str) -> Option<Global> {
    match (module, name) {
        ("collections", "OrderedDict") => Some(Global::OrderedDict),
        // `_rebuild_tensor` (torch < 0.4, as in old torchvision checkpoints) takes the same
        // first four arguments.
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => Some(Global::RebuildTensorV2),
        ("torch._utils", "_rebuild_parameter") => Some(Global::RebuildParameter),
        ("torch", _) => StorageType::ALL
            .into_iter()
            .find(|t| t.torch_name() == name)
            .map(Global::Storage),
        _ => None,
    }
}

/// One pickle read from the start of `bytes`: its value and the bytes it took (up to STOP).
pub fn read(bytes: &[u8]) -> Result<(Value, usize), String> {
    Machine {
        bytes,
        at: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        memo_at: HashMap::new(),
    }
    .run()
}

struct Machine<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    memo_at: HashMap<usize, u32>,
}

impl Machine<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| "the pickle ends early (truncated file?)".to_owned())?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    fn string(&mut self, n: usize) -> Result<String, String> {
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "a string is not UTF-8".to_owned())
    }

    /// A newline-terminated line (GLOBAL's operands).
    fn line(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.at..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("the pickle ends early (truncated file?)")?;
        let s = self.string(n)?;
        self.at += 1;
        Ok(s)
    }

    fn pop(&mut self) -> Result<Value, String> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("the pickle pops past a mark (corrupt pickle)".to_owned());
        }
        let v = self
            .stack
            .pop()
            .ok_or_else(|| "the pickle pops an empty stack (corrupt pickle)".to_owned());
        self.forget_memo_places();
        v
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let m = self
            .marks
            .pop()
            .ok_or("the pickle has no mark to pop to (corrupt pickle)")?;
        let items = self.stack.split_off(m);
        self.forget_memo_places();
        Ok(items)
    }

    /// Stores the top of the stack as memo `i`. Values are copies, so a dict or list filled after
    /// it was memoized (as pickle does) is stored again as it grows: `memo_at` says which memo
    /// entry each stack place holds.
    fn memoize(&mut self, i: u32) -> Result<(), String> {
        let v = self.top()?.clone();
        self.memo.insert(i, v);
        self.memo_at.insert(self.stack.len() - 1, i);
        Ok(())
    }

    /// After the top was filled (SETITEMS, APPENDS): its memo entry, if any, follows.
    fn refresh_memo(&mut self) {
        if let Some(&i) = self.memo_at.get(&(self.stack.len().wrapping_sub(1)))
            && let Some(v) = self.stack.last()
        {
            self.memo.insert(i, v.clone());
        }
    }

    fn forget_memo_places(&mut self) {
        let n = self.stack.len();
        self.memo_at.retain(|&place, _| place < n);
    }

    fn top(&mut self) -> Result<&mut Value, String> {
        self.stack
            .last_mut()
            .ok_or_else(|| "the pickle uses an empty stack (corrupt pickle)".to_owned())
    }

    fn global(&mut self, module: String, name: String) -> Result<(), String> {
        let g = allowed(&module, &name).ok_or_else(|| {
            format!("it asks for {module}.{name}, which a state_dict never needs (refused; nothing was run)")
        })?;
        self.stack.push(Value::Global(g));
        Ok(())
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), String> {
        if !items.len().is_multiple_of(2) {
            return Err("SETITEMS with an odd number of values (corrupt pickle)".to_owned());
        }
        let Value::Dict(d) = self.top()? else {
            return Err("SETITEM on something that is not a dict (corrupt pickle)".to_owned());
        };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            d.push((k, v));
        }
        self.refresh_memo();
        Ok(())
    }

    fn run(mut self) -> Result<(Value, usize), String> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(format!("pickle protocol {proto} is unknown"));
                    }
                }
                0x95 => {
                    self.take(8)?; // FRAME: its length; frames are read as a flat stream.
                }
                b'}' => self.stack.push(Value::Dict(Vec::new())),
                b']' => self.stack.push(Value::List(Vec::new())),
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                b'(' => self.marks.push(self.stack.len()),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.stack.push(Value::Tuple(items));
                }
                // BINSTRING and SHORT_BINSTRING: Python 2's str, read as torch.load does (UTF-8).
                b'T' | b'U' => {
                    let n = if op == b'T' {
                        self.u32()? as usize
                    } else {
                        self.u8()? as usize
                    };
                    let s = self.string(n)?;
                    self.stack.push(Value::Str(s));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.string(n)?;
                    self.stack.push(Value::Str(s));
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let s = self.string(n)?;
                    self.stack.push(Value::Str(s));
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.take(4)?.try_into().unwrap());
                    self.stack.push(Value::Int(v.into()));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(v.into()));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.stack.push(Value::Int(v.into()));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.stack.push(long(b));
                }
                b'G' => {
                    self.take(8)?;
                    self.stack.push(Value::Float);
                }
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'N' => self.stack.push(Value::None),
                b'q' => {
                    let i = self.u8()?.into();
                    self.memoize(i)?;
                }
                b'r' => {
                    let i = self.u32()?;
                    self.memoize(i)?;
                }
                0x94 => self.memoize(self.memo.len() as u32)?,
                b'h' | b'j' => {
                    let i = if op == b'h' {
                        self.u8()?.into()
                    } else {
                        self.u32()?
                    };
                    let v = self.memo.get(&i).cloned().ok_or_else(|| {
                        format!("the pickle reads memo {i}, which it never stored (corrupt pickle)")
                    })?;
                    self.stack.push(v);
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'a' | b'e' => {
                    let items = if op == b'a' {
                        vec![self.pop()?]
                    } else {
                        self.pop_mark()?
                    };
                    let Value::List(l) = self.top()? else {
                        return Err(
                            "APPEND to something that is not a list (corrupt pickle)".into()
                        );
                    };
                    l.extend(items);
                    self.refresh_memo();
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(module, name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Str(module), Value::Str(name)) = (module, name) else {
                        return Err("STACK_GLOBAL without two strings (corrupt pickle)".into());
                    };
                    self.global(module, name)?;
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    let Value::Tuple(args) = args else {
                        return Err("REDUCE without an argument tuple (corrupt pickle)".into());
                    };
                    self.stack.push(call(f, args)?);
                }
                b'b' => {
                    // BUILD: state set on an object (an OrderedDict's `_metadata`); not needed.
                    self.pop()?;
                    self.top()?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.stack.push(storage(pid)?);
                }
                b'.' => {
                    let v = self.pop()?;
                    return Ok((v, self.at));
                }
                _ => {
                    return Err(format!(
                        "it holds pickle opcode 0x{op:02x} at byte {}, which a state_dict does not use",
                        self.at - 1
                    ));
                }
            }
        }
    }
}

fn long(b: Vec<u8>) -> Value {
    if b.len() <= 8 {
        let fill = if b.last().is_some_and(|&x| x & 0x80 != 0) {
            0xff
        } else {
            0
        };
        let mut full = [fill; 8];
        full[..b.len()].copy_from_slice(&b);
        Value::Int(i64::from_le_bytes(full))
    } else {
        Value::BigInt
    }
}

fn as_usize(v: &Value, what: &str) -> Result<usize, String> {
    match v {
        Value::Int(i) if *i >= 0 => Ok(*i as usize),
        _ => Err(format!(
            "{what} is not a non-negative integer (corrupt pickle)"
        )),
    }
}

fn usizes(v: &Value, what: &str) -> Result<Vec<usize>, String> {
    match v {
        Value::Tuple(items) | Value::List(items) => {
            items.iter().map(|i| as_usize(i, what)).collect()
        }
        _ => Err(format!("{what} is not a tuple (corrupt pickle)")),
    }
}

/// REDUCE of an allowed global.
fn call(f: Value, args: Vec<Value>) -> Result<Value, String> {
    match f {
        Value::Global(Global::OrderedDict) => match args.into_iter().next() {
            None => Ok(Value::Dict(Vec::new())),
            Some(Value::List(pairs)) => pairs
                .into_iter()
                .map(|p| match p {
                    Value::Tuple(kv) | Value::List(kv) if kv.len() == 2 => {
                        let mut kv = kv.into_iter();
                        Ok((kv.next().unwrap(), kv.next().unwrap()))
                    }
                    _ => Err("OrderedDict of something other than pairs (corrupt pickle)".into()),
                })
                .collect::<Result<_, String>>()
                .map(Value::Dict),
            Some(_) => Err("OrderedDict of something other than a list (corrupt pickle)".into()),
        },
        Value::Global(Global::RebuildTensorV2) => {
            if !(4..=7).contains(&args.len()) {
                return Err("_rebuild_tensor_v2 with the wrong arguments (corrupt pickle)".into());
            }
            let Value::Storage { key, dtype, offset } = &args[0] else {
                return Err(
                    "_rebuild_tensor_v2 of something not a storage (corrupt pickle)".into(),
                );
            };
            let shape = usizes(&args[2], "a tensor's size")?;
            let stride = usizes(&args[3], "a tensor's stride")?;
            if shape.len() != stride.len() {
                return Err("a tensor's size and stride differ in length (corrupt pickle)".into());
            }
            Ok(Value::Tensor(TensorRef {
                storage: key.clone(),
                dtype: *dtype,
                offset: as_usize(&args[1], "a storage offset")?
                    .checked_add(*offset)
                    .ok_or("a storage offset is impossible (corrupt pickle)")?,
                shape,
                stride,
            }))
        }
        Value::Global(Global::RebuildParameter) => match args.into_iter().next() {
            Some(t @ Value::Tensor(_)) => Ok(t),
            _ => Err("_rebuild_parameter of something not a tensor (corrupt pickle)".into()),
        },
        _ => Err("the pickle calls something that is not callable (corrupt pickle)".into()),
    }
}

/// BINPERSID: `('storage', storage type, key, location, numel[, view metadata])`, where view
/// metadata, if not None, is `(view key, offset, numel)` of a view into storage `key`.
fn storage(pid: Value) -> Result<Value, String> {
    let Value::Tuple(items) = pid else {
        return Err("a persistent id is not a tuple (corrupt pickle)".into());
    };
    match items.as_slice() {
        [
            Value::Str(kind),
            Value::Global(Global::Storage(dtype)),
            key,
            rest @ ..,
        ] if kind == "storage" => {
            let offset = match rest.get(2) {
                Some(Value::Tuple(view)) if view.len() == 3 => as_usize(&view[1], "a view offset")?,
                None | Some(Value::None) => 0,
                Some(_) => return Err("a storage view is not a tuple (corrupt pickle)".into()),
            };
            let key = match key {
                Value::Str(s) => s.clone(),
                Value::Int(i) => i.to_string(),
                _ => return Err("a storage key is not a string (corrupt pickle)".into()),
            };
            Ok(Value::Storage {
                key,
                dtype: *dtype,
                offset,
            })
        }
        _ => Err("a persistent id is not a torch storage (corrupt pickle)".into()),
    }
}
