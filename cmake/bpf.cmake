# psc_bpf_skeleton(<name> <source.bpf.c>)
# Compiles a CO-RE BPF program with clang against the committed vmlinux.h and generates
# its libbpf skeleton with bpftool. Defines an INTERFACE library <name>_skel whose include
# directory holds <name>.skel.h; link it to use the skeleton.
find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64")
	set(PSC_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64")
	set(PSC_BPF_ARCH arm64)
else()
	message(FATAL_ERROR "no vmlinux.h for ${CMAKE_SYSTEM_PROCESSOR}: run bpf/vmlinux/regenerate.sh")
endif()

function(psc_bpf_skeleton name src)
	set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
	set(skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
	get_filename_component(src_abs ${src} ABSOLUTE)
	get_filename_component(src_dir ${src_abs} DIRECTORY)
	file(GLOB bpf_headers CONFIGURE_DEPENDS ${src_dir}/*.h)
	add_custom_command(
		OUTPUT ${obj}
		COMMAND ${BPF_CLANG} -g -O2 -Wall -Werror -target bpf -mcpu=v3 -D__TARGET_ARCH_${PSC_BPF_ARCH}
			-I${CMAKE_SOURCE_DIR}/bpf/vmlinux/${PSC_BPF_ARCH} -I${src_dir}
			-c ${src_abs} -o ${obj}
		DEPENDS ${src_abs} ${bpf_headers}
		COMMENT "BPF ${name}.bpf.o"
		VERBATIM)
	add_custom_command(
		OUTPUT ${skel}
		COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
		DEPENDS ${obj}
		COMMENT "skeleton ${name}.skel.h"
		VERBATIM)
	add_custom_target(${name}_skel_gen DEPENDS ${skel})
	add_library(${name}_skel INTERFACE)
	add_dependencies(${name}_skel ${name}_skel_gen)
	target_include_directories(${name}_skel INTERFACE ${CMAKE_CURRENT_BINARY_DIR} ${src_dir})
endfunction()
