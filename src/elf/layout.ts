/**
 * The byte layout of the ELF header, program header, section header and note
 * header, one table per ELF class, as <elf.h> declares the structures.
 *
 * Decoders (file.ts, sections.ts, notes.ts) and the encoder (writer.ts) read
 * every size and field offset from here, and error messages name a field's
 * offset through `fieldOffset`, so no other module spells "56" or "e_phoff
 * is at 32". Offsets are computed from the declared field order and the C
 * types' sizes (Elf32_Addr 4, Elf64_Addr 8, ...), the way a C compiler lays
 * the structs out: none of them needs padding.
 */
import type { Decoder, ElfClass } from './decoder.js';
import type { Encoder } from './encoder.js';

/** A field whose record type is a number: Elf_Half, Elf_Word (at most 4 bytes). */
export interface NarrowField {
  readonly offset: number;
  readonly size: 1 | 2 | 4;
  readonly wide: false;
}

/** A field whose record type is a bigint: Elf_Addr, Elf_Off, Elf_Xword (4 or 8 bytes by class). */
export interface WideField {
  readonly offset: number;
  readonly size: 4 | 8;
  readonly wide: true;
}

/**
 * A structure's layout for one class, typed against the record `R` it
 * decodes to: a bigint member must be a WideField, a number member a
 * NarrowField, so a generic decoder or encoder cannot mix them up.
 */
export interface StructLayout<R> {
  /** sizeof the structure. */
  readonly size: number;
  readonly fields: { readonly [K in keyof R]-?: R[K] extends bigint ? WideField : NarrowField };
}

/** Elf_Ehdr after e_ident: the members a record carries. */
export interface EhdrFields {
  e_type: number;
  e_machine: number;
  e_version: number;
  e_entry: bigint;
  e_phoff: bigint;
  e_shoff: bigint;
  e_flags: number;
  e_ehsize: number;
  e_phentsize: number;
  e_phnum: number;
  e_shentsize: number;
  e_shnum: number;
  e_shstrndx: number;
}

export interface PhdrFields {
  p_type: number;
  p_flags: number;
  p_offset: bigint;
  p_vaddr: bigint;
  p_paddr: bigint;
  p_filesz: bigint;
  p_memsz: bigint;
  p_align: bigint;
}

export interface ShdrFields {
  sh_name: number;
  sh_type: number;
  sh_flags: bigint;
  sh_addr: bigint;
  sh_offset: bigint;
  sh_size: bigint;
  sh_link: number;
  sh_info: number;
  sh_addralign: bigint;
  sh_entsize: bigint;
}

/** Elf_Nhdr: the same 12 bytes in both classes. */
export interface NhdrFields {
  n_namesz: number;
  n_descsz: number;
  n_type: number;
}

export interface ClassLayout {
  readonly elfClass: ElfClass;
  /** Bytes in Elf_Addr / Elf_Off / a long for this class. */
  readonly wordSize: 4 | 8;
  readonly ehdr: StructLayout<EhdrFields>;
  readonly phdr: StructLayout<PhdrFields>;
  readonly shdr: StructLayout<ShdrFields>;
  readonly nhdr: StructLayout<NhdrFields>;
}

/** Size of e_ident, which every class starts with. */
export const EI_NIDENT = 16;

// C type names, so each table below reads like its declaration in <elf.h>,
// except 'Size': a size or alignment member (Elf32_Word in ELF32, Elf64_Xword
// in ELF64), which records carry as a bigint in both classes.
/** A declaration: member names in order with their C types; a bigint member must have a wide type. */
type Decl<R> = ReadonlyArray<{ [K in keyof R & string]: readonly [K, R[K] extends bigint ? 'Addr' | 'Off' | 'Size' : 'Half' | 'Word'] }[keyof R & string]>;

function struct<R>(cls: ElfClass, decl: Decl<R>, start = 0): StructLayout<R> {
  const fields: Record<string, NarrowField | WideField> = {};
  let offset = start;
  for (const [name, type] of decl) {
    const size = type === 'Half' ? 2 : type === 'Word' ? 4 : cls === 64 ? 8 : 4;
    const wide = type === 'Addr' || type === 'Off' || type === 'Size';
    fields[name] = wide ? { offset, size: size as 4 | 8, wide: true } : { offset, size: size as 2 | 4, wide: false };
    offset += size;
  }
  return { size: offset, fields: fields as StructLayout<R>['fields'] };
}

const EHDR_DECL: Decl<EhdrFields> = [
  ['e_type', 'Half'], ['e_machine', 'Half'], ['e_version', 'Word'], ['e_entry', 'Addr'], ['e_phoff', 'Off'], ['e_shoff', 'Off'],
  ['e_flags', 'Word'], ['e_ehsize', 'Half'], ['e_phentsize', 'Half'], ['e_phnum', 'Half'], ['e_shentsize', 'Half'],
  ['e_shnum', 'Half'], ['e_shstrndx', 'Half'],
];
// Elf64_Phdr moves p_flags up next to p_type so the 64-bit members stay aligned.
const PHDR32_DECL: Decl<PhdrFields> = [
  ['p_type', 'Word'], ['p_offset', 'Off'], ['p_vaddr', 'Addr'], ['p_paddr', 'Addr'], ['p_filesz', 'Size'], ['p_memsz', 'Size'],
  ['p_flags', 'Word'], ['p_align', 'Size'],
];
const PHDR64_DECL: Decl<PhdrFields> = [
  ['p_type', 'Word'], ['p_flags', 'Word'], ['p_offset', 'Off'], ['p_vaddr', 'Addr'], ['p_paddr', 'Addr'], ['p_filesz', 'Size'],
  ['p_memsz', 'Size'], ['p_align', 'Size'],
];
// sh_flags is Elf32_Word / Elf64_Xword like the sizes, and a bigint in records too.
const SHDR_DECL: Decl<ShdrFields> = [
  ['sh_name', 'Word'], ['sh_type', 'Word'], ['sh_flags', 'Size'], ['sh_addr', 'Addr'], ['sh_offset', 'Off'], ['sh_size', 'Size'],
  ['sh_link', 'Word'], ['sh_info', 'Word'], ['sh_addralign', 'Size'], ['sh_entsize', 'Size'],
];
const NHDR_DECL: Decl<NhdrFields> = [['n_namesz', 'Word'], ['n_descsz', 'Word'], ['n_type', 'Word']];

function classLayout(cls: ElfClass): ClassLayout {
  return Object.freeze({
    elfClass: cls,
    wordSize: cls === 64 ? 8 : 4,
    ehdr: struct(cls, EHDR_DECL, EI_NIDENT),
    phdr: struct(cls, cls === 64 ? PHDR64_DECL : PHDR32_DECL),
    shdr: struct(cls, SHDR_DECL),
    nhdr: struct(cls, NHDR_DECL),
  });
}

/** The layouts, by class: ELF_LAYOUT[64].phdr.size is 56, ELF_LAYOUT[32].ehdr.fields.e_phoff.offset is 28. */
export const ELF_LAYOUT: Readonly<Record<ElfClass, ClassLayout>> = Object.freeze({ 32: classLayout(32), 64: classLayout(64) });

type StructName = 'ehdr' | 'phdr' | 'shdr' | 'nhdr';
type FieldsOf<S extends StructName> = keyof ClassLayout[S]['fields'];

/** Offset of a field inside its structure, for FormatError offsets: fieldOffset(64, 'ehdr', 'e_phoff') is 32. */
export function fieldOffset<S extends StructName>(cls: ElfClass, struct: S, field: FieldsOf<S>): number {
  const fields = ELF_LAYOUT[cls][struct].fields as Record<FieldsOf<S>, NarrowField | WideField>;
  return fields[field].offset;
}

/** `n` rounded up to a multiple of `a` (any positive a, not only powers of two). */
export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** Decodes the structure `layout` describes from `d` at `off`, every read bounds-checked by the Decoder. */
export function decodeStruct<R>(d: Decoder, layout: StructLayout<R>, off: number): R {
  d.need(off, layout.size);
  const out: Record<string, number | bigint> = {};
  for (const [name, f] of Object.entries(layout.fields) as Array<[string, NarrowField | WideField]>) {
    out[name] = f.wide ? d.uint(off + f.offset, f.size) : f.size === 1 ? d.u8(off + f.offset) : f.size === 2 ? d.u16(off + f.offset) : d.u32(off + f.offset);
  }
  return out as R;
}

/** Encodes `values` at `off` into `e` by the same table decodeStruct reads. */
export function encodeStruct<R>(e: Encoder, layout: StructLayout<R>, off: number, values: R): void {
  for (const [name, f] of Object.entries(layout.fields) as Array<[string, NarrowField | WideField]>) {
    const v = (values as Record<string, number | bigint>)[name]!;
    if (f.wide) e.uint(off + f.offset, f.size, BigInt(v), name);
    else if (f.size === 1) e.u8(off + f.offset, Number(v), name);
    else if (f.size === 2) e.u16(off + f.offset, Number(v), name);
    else e.u32(off + f.offset, Number(v), name);
  }
}
