//! Tiny static ELF64 executables, assembled by hand, that write a message to stdout and exit 0.
//!
//! Every file has the same little-endian layout and is mapped whole, read + execute, at [`BASE`]:
//!
//! | offset | size | content                                                   |
//! |--------|------|-----------------------------------------------------------|
//! | 0      | 64   | ELF header                                                |
//! | 64     | 56   | the only program header: one `PT_LOAD` of the whole file  |
//! | 120    | code | machine code; the entry point is its first byte           |
//! | ...    | msg  | the message, right after the code                         |
//!
//! No sections, no libc, no dynamic linker: two raw Linux system calls, `write(1, msg, len)` and
//! `exit(0)`. A message below `PIPE_BUF` (4 KiB) is written whole by one `write` to a pipe.

/// Address the file is mapped at (the classic non-PIE base; 64 KiB-aligned, so it suits 4 KiB,
/// 16 KiB and 64 KiB page kernels alike).
pub(super) const BASE: u64 = 0x40_0000;
/// `e_machine` for x86_64.
pub(super) const EM_X86_64: u16 = 62;
/// `e_machine` for AArch64.
pub(super) const EM_AARCH64: u16 = 183;
/// Size of the ELF64 header.
const EHDR_SIZE: u16 = 64;
/// Size of one ELF64 program header.
const PHDR_SIZE: u16 = 56;
/// Where the code starts: right after the two headers.
pub(super) const CODE_OFFSET: usize = EHDR_SIZE as usize + PHDR_SIZE as usize;

/// Linux x86_64 system call numbers.
const X86_64_SYS_WRITE: u32 = 1;
const X86_64_SYS_EXIT: u32 = 60;
/// Linux AArch64 (generic table) system call numbers.
const AARCH64_SYS_WRITE: u16 = 64;
const AARCH64_SYS_EXIT: u16 = 93;

/// Length of the x86_64 code below, in bytes.
const X86_64_CODE_LEN: usize = 31;
/// Number of AArch64 instructions below (4 bytes each).
const AARCH64_INSNS: usize = 8;

/// An x86_64 Linux executable that writes `message` to stdout and exits 0.
///
/// Panics if `message` is 64 KiB or longer (the AArch64 twin loads the length as a 16-bit
/// immediate; both keep the same limit).
pub(super) fn x86_64(message: &[u8]) -> Vec<u8> {
    let len = u32::from(message_len(message));
    // ET_EXEC is loaded at BASE exactly, so the message's absolute address is known and fits in
    // 32 bits; `mov r32, imm32` zero-extends into the full 64-bit register.
    let msg_addr = u32::try_from(BASE + (CODE_OFFSET + X86_64_CODE_LEN) as u64)
        .expect("base address fits in 32 bits");

    let mut code = Vec::with_capacity(X86_64_CODE_LEN);
    // mov eax, 1        B8+r id   rax = __NR_write
    code.push(0xb8);
    code.extend_from_slice(&X86_64_SYS_WRITE.to_le_bytes());
    // mov edi, 1        BF id     rdi = 1, the file descriptor of stdout
    code.push(0xbf);
    code.extend_from_slice(&1u32.to_le_bytes());
    // mov esi, msg      BE id     rsi = address of the message
    code.push(0xbe);
    code.extend_from_slice(&msg_addr.to_le_bytes());
    // mov edx, len      BA id     rdx = length of the message
    code.push(0xba);
    code.extend_from_slice(&len.to_le_bytes());
    // syscall           0F 05     write(1, msg, len); the result in rax is ignored
    code.extend_from_slice(&[0x0f, 0x05]);
    // mov eax, 60       B8+r id   rax = __NR_exit
    code.push(0xb8);
    code.extend_from_slice(&X86_64_SYS_EXIT.to_le_bytes());
    // xor edi, edi      31 /r     rdi = 0, the exit status (ModRM FF: mod 11, reg edi, rm edi)
    code.extend_from_slice(&[0x31, 0xff]);
    // syscall           0F 05     exit(0); does not return
    code.extend_from_slice(&[0x0f, 0x05]);
    assert_eq!(code.len(), X86_64_CODE_LEN);

    executable(EM_X86_64, &code, message)
}

/// An AArch64 Linux executable that writes `message` to stdout and exits 0.
///
/// Panics if `message` is 64 KiB or longer (its length is loaded as a 16-bit immediate).
pub(super) fn aarch64(message: &[u8]) -> Vec<u8> {
    let len = message_len(message);
    // The ADR is instruction 1; the message starts right after the last instruction.
    let adr_to_msg = ((AARCH64_INSNS - 1) * 4) as u32;

    let insns: [u32; AARCH64_INSNS] = [
        movz_x(0, 1),                 // movz x0, #1     x0 = 1, the file descriptor of stdout
        adr(1, adr_to_msg),           // adr  x1, msg    x1 = address of the message (PC-relative)
        movz_x(2, len),               // movz x2, #len   x2 = length of the message
        movz_x(8, AARCH64_SYS_WRITE), // movz x8, #64    x8 = __NR_write
        SVC_0,                        // svc  #0         write(1, msg, len); result in x0 ignored
        movz_x(0, 0),                 // movz x0, #0     x0 = 0, the exit status
        movz_x(8, AARCH64_SYS_EXIT),  // movz x8, #93    x8 = __NR_exit
        SVC_0,                        // svc  #0         exit(0); does not return
    ];
    let code: Vec<u8> = insns.iter().flat_map(|i| i.to_le_bytes()).collect();

    executable(EM_AARCH64, &code, message)
}

/// `MOVZ Xd, #imm16` (64-bit, no shift): Xd = imm16, upper bits cleared.
///
/// Encoding: `sf=1 opc=10 100101 hw=00 imm16 Rd` = `0xD2800000 | imm16 << 5 | Rd`.
pub(super) const fn movz_x(rd: u32, imm16: u16) -> u32 {
    0xd280_0000 | (imm16 as u32) << 5 | (rd & 0x1f)
}

/// `ADR Xd, #offset`: Xd = address of this instruction + offset (a signed 21-bit byte offset;
/// only small forward offsets are used here).
///
/// Encoding: `op=0 immlo(2) 10000 immhi(19) Rd`, where immlo is the offset's low 2 bits and immhi
/// the next 19.
pub(super) const fn adr(rd: u32, offset: u32) -> u32 {
    let immlo = offset & 0b11;
    let immhi = (offset >> 2) & 0x7_ffff;
    0x1000_0000 | immlo << 29 | immhi << 5 | (rd & 0x1f)
}

/// `SVC #0`: supervisor call, enters the kernel. Encoding `11010100 000 imm16=0 000 01`.
pub(super) const SVC_0: u32 = 0xd400_0001;

/// The message length as the 16-bit immediate both programs can load.
fn message_len(message: &[u8]) -> u16 {
    u16::try_from(message.len()).expect("message shorter than 64 KiB")
}

/// Wraps `code` and `message` in an ELF header and one `PT_LOAD` program header.
fn executable(machine: u16, code: &[u8], message: &[u8]) -> Vec<u8> {
    let size = (CODE_OFFSET + code.len() + message.len()) as u64;
    let mut f = Vec::with_capacity(size as usize);

    // ELF header (Elf64_Ehdr).
    f.extend_from_slice(b"\x7fELF"); // e_ident[EI_MAG0..=EI_MAG3]: magic
    f.push(2); // e_ident[EI_CLASS] = ELFCLASS64
    f.push(1); // e_ident[EI_DATA] = ELFDATA2LSB (little-endian)
    f.push(1); // e_ident[EI_VERSION] = EV_CURRENT
    f.push(0); // e_ident[EI_OSABI] = ELFOSABI_NONE (System V)
    f.extend_from_slice(&[0; 8]); // e_ident[EI_ABIVERSION] = 0, then padding to 16 bytes
    f.extend_from_slice(&2u16.to_le_bytes()); // e_type = ET_EXEC
    f.extend_from_slice(&machine.to_le_bytes()); // e_machine
    f.extend_from_slice(&1u32.to_le_bytes()); // e_version = EV_CURRENT
    f.extend_from_slice(&(BASE + CODE_OFFSET as u64).to_le_bytes()); // e_entry: first instruction
    f.extend_from_slice(&u64::from(EHDR_SIZE).to_le_bytes()); // e_phoff: right after this header
    f.extend_from_slice(&0u64.to_le_bytes()); // e_shoff = 0: no section headers
    f.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    f.extend_from_slice(&EHDR_SIZE.to_le_bytes()); // e_ehsize
    f.extend_from_slice(&PHDR_SIZE.to_le_bytes()); // e_phentsize
    f.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
    f.extend_from_slice(&0u16.to_le_bytes()); // e_shentsize (no section headers)
    f.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    f.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx = SHN_UNDEF
    assert_eq!(f.len(), usize::from(EHDR_SIZE));

    // Program header (Elf64_Phdr): map the whole file, headers included, read + execute.
    f.extend_from_slice(&1u32.to_le_bytes()); // p_type = PT_LOAD
    f.extend_from_slice(&5u32.to_le_bytes()); // p_flags = PF_R | PF_X
    f.extend_from_slice(&0u64.to_le_bytes()); // p_offset
    f.extend_from_slice(&BASE.to_le_bytes()); // p_vaddr
    f.extend_from_slice(&BASE.to_le_bytes()); // p_paddr
    f.extend_from_slice(&size.to_le_bytes()); // p_filesz
    f.extend_from_slice(&size.to_le_bytes()); // p_memsz
    f.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
    assert_eq!(f.len(), CODE_OFFSET);

    f.extend_from_slice(code);
    f.extend_from_slice(message);
    assert_eq!(f.len() as u64, size);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aarch64_encodings_match_the_architecture_manual() {
        // Reference encodings as an assembler emits them (llvm-mc -triple=aarch64 -show-encoding).
        assert_eq!(movz_x(8, 93), 0xd280_0ba8, "movz x8, #93");
        assert_eq!(movz_x(0, 1), 0xd280_0020, "movz x0, #1");
        assert_eq!(movz_x(2, 0xffff), 0xd29f_ffe2, "movz x2, #65535");
        assert_eq!(adr(1, 28), 0x1000_00e1, "adr x1, #28");
        assert_eq!(adr(1, 5), 0x3000_0021, "adr x1, #5 (immlo = 1)");
        assert_eq!(
            adr(3, 0xf_ffff),
            0x707f_ffe3,
            "adr x3, #1048575 (largest forward offset)"
        );
        assert_eq!(SVC_0, 0xd400_0001, "svc #0");
    }

    #[test]
    fn aarch64_adr_points_at_the_message() {
        let message = b"hi\n";
        let program = aarch64(message);
        let code = &program[CODE_OFFSET..CODE_OFFSET + AARCH64_INSNS * 4];
        let adr_insn = u32::from_le_bytes(code[4..8].try_into().unwrap());
        // Decode immhi:immlo back and add it to the ADR's own offset in the file.
        let offset = ((adr_insn >> 5) & 0x7_ffff) << 2 | (adr_insn >> 29) & 0b11;
        let target = CODE_OFFSET + 4 + offset as usize;
        assert_eq!(&program[target..], message);
        let len_insn = u32::from_le_bytes(code[8..12].try_into().unwrap());
        assert_eq!(len_insn, movz_x(2, message.len() as u16));
    }

    #[test]
    fn x86_64_code_is_the_expected_byte_sequence() {
        let message = [b'x'; 27];
        let program = x86_64(&message);
        #[rustfmt::skip]
        let expected: [u8; X86_64_CODE_LEN] = [
            0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1
            0xbf, 0x01, 0x00, 0x00, 0x00, // mov edi, 1
            0xbe, 0x97, 0x00, 0x40, 0x00, // mov esi, 0x400097 (= BASE + 120 + 31)
            0xba, 0x1b, 0x00, 0x00, 0x00, // mov edx, 27
            0x0f, 0x05,                   // syscall
            0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60
            0x31, 0xff,                   // xor edi, edi
            0x0f, 0x05,                   // syscall
        ];
        assert_eq!(
            &program[CODE_OFFSET..CODE_OFFSET + X86_64_CODE_LEN],
            &expected
        );
        assert_eq!(&program[CODE_OFFSET + X86_64_CODE_LEN..], &message);
    }

    #[test]
    #[should_panic(expected = "shorter than 64 KiB")]
    fn refuses_a_message_too_long_for_a_16_bit_length() {
        aarch64(&vec![b'x'; 0x1_0000]);
    }
}
